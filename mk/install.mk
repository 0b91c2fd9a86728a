# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Installing vringmed, and its Debian package.  Included by the Makefile.
#
#   make install [PREFIX=/usr/local] [DESTDIR=]   the daemon, vringmedctl, the
#                                                 unit and its XDP drop-in, the
#                                                 config, man pages, alert
#                                                 rules and dashboard
#   make uninstall [PREFIX=...] [DESTDIR=]        exactly what install put
#   make deb                                      .output/deb/vringmed_*.deb,
#                                                 then lintian on it
#
# The BPF objects are not installed: each binary carries its object inside
# (bpftool's skeleton embeds it), so the two binaries are the whole program.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share/vringmed
# systemd looks in /usr/local/lib/systemd/system as well as /usr/lib/...
UNITDIR    ?= $(PREFIX)/lib/systemd/system
# The configuration is the host's, under /etc whatever the prefix.
SYSCONFDIR ?= /etc
INSTALL    ?= install

INSTALL_CONF := $(DESTDIR)$(SYSCONFDIR)/vringmed/vringmedd.conf
# Every file install puts, but the config (kept when it exists, see below).
INSTALL_FILES := $(SBINDIR)/vringmedd $(BINDIR)/vringmedctl \
		 $(UNITDIR)/vringmedd.service $(DATADIR)/systemd/vringmedd-xdp.conf \
		 $(MANDIR)/man8/vringmedd.8 $(MANDIR)/man1/vringmedctl.1 \
		 $(DATADIR)/prometheus/vringmed-alerts.yml \
		 $(DATADIR)/grafana/vringmed-dashboard.json
# Directories install may create, deepest first, for uninstall: those that
# are vringmed's own always go when empty, the others only under a DESTDIR.
INSTALL_OWN_DIRS := $(DATADIR)/prometheus $(DATADIR)/grafana $(DATADIR)/systemd $(DATADIR) \
		    $(SYSCONFDIR)/vringmed
INSTALL_DIRS := $(SBINDIR) $(BINDIR) $(UNITDIR) $(MANDIR)/man8 $(MANDIR)/man1

.PHONY: install uninstall deb
install: $(OUTPUT)/vringmedd $(OUTPUT)/vringmedctl
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DATADIR)/prometheus \
		$(DESTDIR)$(DATADIR)/grafana $(DESTDIR)$(DATADIR)/systemd $(DESTDIR)$(SYSCONFDIR)/vringmed
	$(Q)$(INSTALL) -m 0755 $(OUTPUT)/vringmedd $(DESTDIR)$(SBINDIR)/vringmedd
	$(Q)$(INSTALL) -m 0755 $(OUTPUT)/vringmedctl $(DESTDIR)$(BINDIR)/vringmedctl
	$(Q)sed -e 's|/usr/local/sbin/vringmedd|$(SBINDIR)/vringmedd|' \
		-e 's|/etc/vringmed/|$(SYSCONFDIR)/vringmed/|' \
		-e 's|(this file says PREFIX=/usr/local)|(this one for PREFIX=$(PREFIX))|' \
		tools/vringmedd.service > $(DESTDIR)$(UNITDIR)/vringmedd.service
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/vringmedd.service
	$(Q)$(INSTALL) -m 0644 docs/vringmedd.8 $(DESTDIR)$(MANDIR)/man8/vringmedd.8
	$(Q)$(INSTALL) -m 0644 docs/vringmedctl.1 $(DESTDIR)$(MANDIR)/man1/vringmedctl.1
	$(Q)$(INSTALL) -m 0644 tools/prometheus/vringmed-alerts.yml $(DESTDIR)$(DATADIR)/prometheus/
	$(Q)$(INSTALL) -m 0644 tools/grafana/vringmed-dashboard.json $(DESTDIR)$(DATADIR)/grafana/
	$(Q)sed -e 's|/usr/share/vringmed/|$(DATADIR)/|' tools/vringmedd-xdp.conf \
		> $(DESTDIR)$(DATADIR)/systemd/vringmedd-xdp.conf
	$(Q)chmod 0644 $(DESTDIR)$(DATADIR)/systemd/vringmedd-xdp.conf
	@# An operator's edited config is never overwritten.
	$(Q)if [ -e $(INSTALL_CONF) ] && ! cmp -s tools/vringmedd.conf $(INSTALL_CONF); then \
		echo "  kept     $(INSTALL_CONF) (differs from tools/vringmedd.conf)"; \
	else \
		$(INSTALL) -m 0644 tools/vringmedd.conf $(INSTALL_CONF); \
	fi

# The config goes only when it is still the default: an edited one is the
# operator's.  Under a DESTDIR the directories left empty go too, so a
# staging tree ends as it began; without one, /usr/local/bin and the like
# stay.
uninstall:
	$(call msg,UNINSTALL,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(addprefix $(DESTDIR),$(INSTALL_FILES))
	$(Q)if cmp -s tools/vringmedd.conf $(INSTALL_CONF); then rm -f $(INSTALL_CONF); \
	elif [ -e $(INSTALL_CONF) ]; then echo "  kept     $(INSTALL_CONF) (edited)"; fi
	$(Q)for d in $(addprefix $(DESTDIR),$(INSTALL_OWN_DIRS)); do \
		[ ! -d $$d ] || rmdir --ignore-fail-on-non-empty $$d; done
	$(Q)if [ -n "$(DESTDIR)" ]; then \
		for d in $(addprefix $(DESTDIR),$(INSTALL_DIRS) $(INSTALL_OWN_DIRS)); do \
			while [ "$$d" != "$(DESTDIR)" ] && [ "$$d" != / ]; do \
				[ ! -d "$$d" ] || rmdir "$$d" 2>/dev/null || break; \
				d=$$(dirname "$$d"); \
			done; \
		done; \
	fi

# ---- the Debian package ----------------------------------------------------
# Built with debhelper in a copy of the tree under .output/deb (the files git
# tracks, plus new ones not ignored), with packaging/debian as its debian/:
# so it builds as from a clean clone, the tree's own .output is not cleaned
# by debhelper, and debian/ at the top stays free for a distribution's own
# packaging.  The changelog is written here: its one entry names the
# version (user/defaults.h's VRINGMED_VERSION) and the commit.
DEB_DIR := $(OUTPUT)/deb

deb:
	$(call msg,DEB,$(DEB_DIR))
	$(Q)ver=$$(sed -n 's/^#define VRINGMED_VERSION\t*"\(.*\)"/\1/p' user/defaults.h); \
	[ -n "$$ver" ] || { echo "deb: no VRINGMED_VERSION in user/defaults.h" >&2; exit 1; }; \
	src=$(DEB_DIR)/vringmed-$$ver; \
	rm -rf $(DEB_DIR) && mkdir -p $$src && \
	if git rev-parse --git-dir >/dev/null 2>&1; then \
		git ls-files -z --cached --others --exclude-standard | \
			tar --null -T - --ignore-failed-read -cf - 2>/dev/null; \
	else \
		tar --exclude=./$(OUTPUT) -cf - .; \
	fi | tar -xf - -C $$src && \
	rm -rf $$src/debian && cp -r packaging/debian $$src/debian && \
	commit=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown); \
	who="$${DEBFULLNAME:-$$(git log -1 --format=%an 2>/dev/null || echo vringmed)}"; \
	mail="$${DEBEMAIL:-$$(git log -1 --format=%ae 2>/dev/null || echo vringmed@localhost)}"; \
	when=$$(git log -1 --format=%cD 2>/dev/null || date -R); \
	sed -i "s|@MAINTAINER@|$$who <$$mail>|" $$src/debian/control && \
	printf 'vringmed (%s) unstable; urgency=medium\n\n  * Built from the vringmed tree at commit %s.\n\n -- %s <%s>  %s\n' \
		"$$ver" "$$commit" "$$who" "$$mail" "$$when" > $$src/debian/changelog && \
	(cd $$src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		DEB_BUILD_OPTIONS="$${DEB_BUILD_OPTIONS:-parallel=2}" dpkg-buildpackage -b -us -uc $(if $(filter 1,$(V)),,>../build.log 2>&1)) || \
		{ echo "deb: dpkg-buildpackage failed, see $(DEB_DIR)/build.log" >&2; tail -n 20 $(DEB_DIR)/build.log >&2; exit 1; }; \
	ls $(DEB_DIR)/vringmed_$${ver}_*.deb && \
	if command -v lintian >/dev/null; then \
		lintian --fail-on error,warning --info $(DEB_DIR)/vringmed_$${ver}_*.deb; \
	else \
		echo "deb: lintian not installed (make setup): not checked"; \
	fi
