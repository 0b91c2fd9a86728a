// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * SIGHUP (systemctl reload): the config file's device lines applied to the
 * running daemon, so that an operator adds or removes one VM's device
 * without touching the sessions of the others, as a restart would.
 *
 * A new line starts its device; a device whose line is gone is removed;
 * a device whose line changed keeps running as it is, with a warning: its
 * VMM may be using it, and whether to end that session is the operator's
 * call (vringmedctl device del NAME, then reload).  Devices given on the
 * command line or added through the control socket are not the file's,
 * and a reload leaves them alone.  A file with a bad line is not applied
 * at all.  Other settings are read at start only.
 */
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "proxy.h"
#include "sdnotify.h"

static bool vrd_in_file(const struct vrd_config *c, const char *name)
{
	for (int i = 0; i < c->ndev; i++) {
		struct vrm_proxy_cfg cfg;
		const char *why;

		if (!vrm_proxy_parse(c->devspec[i], &cfg, &why) && !strcmp(cfg.name, name))
			return true;
	}
	return false;
}

/* The file's devices that are gone: removed.  How many. */
static int vrd_reload_removed(struct vrd_daemon *d, const struct vrd_config *c)
{
	int n = 0;

	for (int i = 0; i < VRM_MAX_DEVICES; i++) {
		char name[sizeof(d->dev[i]->name)];

		if (!d->dev[i] || d->dev[i]->origin != VRD_FILE || vrd_in_file(c, d->dev[i]->name))
			continue;
		snprintf(name, sizeof(name), "%s", d->dev[i]->name);
		vrd_del_device(d, name);
		pr_info("reload: device %s removed (its line is gone from %s)\n", name, c->file);
		n++;
	}
	return n;
}

/* The file's new devices: started.  How many; *failed counts the rest. */
static int vrd_reload_added(struct vrd_daemon *d, const struct vrd_config *c, int *failed)
{
	int n = 0;

	for (int i = 0; i < c->ndev; i++) {
		struct vrm_proxy_cfg cfg;
		struct vrd_dev *dv;
		const char *why;
		char err[1024];

		if (vrm_proxy_parse(c->devspec[i], &cfg, &why))
			continue;	/* vrd_config_reread checked every line */
		dv = vrd_find(d, cfg.name);
		if (dv) {
			enum vrd_origin was = dv->origin;

			if (was != VRD_FILE)
				pr_warn("reload: device %s, given on the command line or the control "
					"socket, is %s's from now on: removing its line removes it\n",
					cfg.name, c->file);
			if (strcmp(dv->spec, c->devspec[i]))
				pr_warn("reload: device %s changed in %s; it keeps running as '%s' "
					"(vringmedctl device del %s, then reload, to apply it)\n",
					cfg.name, c->file, dv->spec, cfg.name);
			/* Its line is the file's now: removing the line removes it. */
			dv->origin = VRD_FILE;
			if (was == VRD_CONTROL)
				vrd_control_save(d);	/* no longer the control socket's */
			continue;
		}
		if (vrd_add_device(d, c->devspec[i], VRD_FILE, err, sizeof(err))) {
			pr_warn("reload: %s\n", err);
			(*failed)++;
			continue;
		}
		pr_info("reload: device %s added\n", cfg.name);
		n++;
	}
	return n;
}

void vrd_reload(struct vrd_daemon *d)
{
	struct vrd_config c;
	int removed, added, failed = 0;

	if (!d->cfg->file) {
		pr_warn("SIGHUP: vringmedd was started without --config: nothing to reload\n");
		return;
	}
	vrm_sd_notify("RELOADING=1");
	if (vrd_config_reread(&c, d->cfg->file)) {
		pr_warn("reload: %s not applied (the line above); the devices are as they were\n",
			d->cfg->file);
		vrm_sd_notify("READY=1");
		return;
	}
	removed = vrd_reload_removed(d, &c);
	added = vrd_reload_added(d, &c, &failed);
	if (failed)
		pr_warn("reloaded %s: %d device%s added, %d removed, %d could not start (above)\n",
			d->cfg->file, added, added == 1 ? "" : "s", removed, failed);
	else
		pr_info("reloaded %s: %d device%s added, %d removed\n", d->cfg->file, added,
			added == 1 ? "" : "s", removed);
	vrd_config_free_devices(&c);
	vrm_sd_notify("READY=1");
}
