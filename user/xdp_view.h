/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* vringmedctl's view of the XDP back-end's pins (xdp_view.c). */
#ifndef VRINGMED_XDP_VIEW_H
#define VRINGMED_XDP_VIEW_H

#include <jansson.h>

/* One object per interface under PIN_ROOT/xdp: interface, attached (the
 * pinned program is the interface's), verdicts {steered, passed, flooded,
 * no_socket}, macs [{mac, socket}].  An empty array when there is none. */
json_t *vrm_xdp_view(const char *pin_root);

#endif
