# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# vringmed: plain GNU Make.  `make V=1` shows full commands.
#
# Every C file is compiled on its own into an object under .output/ (the
# same path as its source), and the compiler writes the headers it read
# into a .d file beside the object: touching a header rebuilds what
# includes it and nothing else.  A program is its list of sources below.
.DELETE_ON_ERROR:
.SUFFIXES:

OUTPUT   := .output
CLANG    ?= clang-19
LLVM_STRIP ?= llvm-strip-19
BPFTOOL  ?= bpftool
CC       ?= gcc
CROSS_CC ?= s390x-linux-gnu-gcc
PPC64_CC ?= powerpc64-linux-gnu-gcc
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/;s/s390x/s390/')

CFLAGS   ?= -O2 -g
# VRM_DEFS: defines for C and BPF alike (perf-kick-phases builds with
# -DVRM_KICK_STAMPS under an OUTPUT of its own).
VRM_DEFS ?=
CFLAGS   += -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Iinclude -Iuser \
	    -Itestlib -I$(OUTPUT) -D_GNU_SOURCE $(VRM_DEFS)
DEPFLAGS := -MMD -MP
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall \
	      -I$(OUTPUT) -Iinclude $(VRM_DEFS)
LIBS     := -lxdp -lbpf -lelf -lz -lpthread -lmicrohttpd -ljansson

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# ---- sources -----------------------------------------------------
# One mediated device, in rooms (user/proxy_int.h): the fuzzer builds them too.
PROXY_SRCS := user/proxy.c user/proxy_vmm.c user/proxy_backend.c user/proxy_queue.c user/proxy_kick.c \
	      user/proxy_blk.c user/proxy_poll.c user/proxy_log.c user/backend_xdp.c user/backend_xdp_vu.c user/backend_xdp_ring.c \
	      user/backend_xdp_rx.c user/xdp_gro.c user/keeper.c
# libvringmed.a: everything the daemon, vringmedctl, the tools and the
# tests share.  Append new user/*.c files here.
LIB_SRCS := user/access.c user/uxlate.c user/upoll.c user/log.c user/loader.c user/eventfd_id.c user/vu_wire.c \
	    $(PROXY_SRCS) \
	    user/view.c user/metrics.c user/sdnotify.c user/xdp_view.c \
	    user/num.c user/cli.c user/daemon_config.c user/daemon_control.c user/daemon_devices.c user/daemon_reload.c \
	    user/crash.c

# libvrmtest.a: what the tests and the tools share (testlib/), never one
# reaching into the other.  Its headers-only parts (ringgen.h, fixture.h)
# are found through -Itestlib.
TESTLIB_SRCS := testlib/bfx.c testlib/rig.c testlib/peers.c testlib/ksignal.c

# The test binaries: each is its sources plus selftests/runner.c.  Tests
# run in the order their files are listed, and in a file from top to bottom.
TEST_CORE_SRCS  := $(addprefix selftests/core/,core.c layout.c kick.c used.c net.c blk.c fast_chains.c \
		     hostile.c races.c journal.c guest_call.c chain_end.c indirect.c gro.c)
TEST_BPF_SRCS   := $(addprefix selftests/bpf/,common.c load.c translate.c hostile.c deferred.c races.c \
		     differential.c real_kicks.c daemon.c daemon_upgrade.c) selftests/bpf_once.c
# session.c last: its zz_shutdown ends the session the others share.
TEST_PROXY_SRCS := $(addprefix selftests/proxy/,vmm_messages.c daemon_fds.c vmm_misbehaves.c access.c \
		     backend.c guest_polls.c lifecycle.c kicks.c dirty_log.c vmm.c ebe.c session.c)
TEST_VHOST_SRCS := $(addprefix selftests/vhost/,drv.c driver.c direct.c via.c)
TEST_BLK_SRCS   := selftests/test_blk.c
TEST_SUPPRESS_SRCS := selftests/test_suppress.c selftests/bpf_once.c

# $(call objs,VARIANT,SOURCES): the objects of SOURCES in one variant,
# the folder under .output/ they are built in ("" is native).
objs = $(patsubst %.c,$(OUTPUT)/$(1)%.o,$(2))

BPF_OBJS := $(OUTPUT)/vringmed.bpf.o $(OUTPUT)/probe_fentry.bpf.o $(OUTPUT)/xdp_steer.bpf.o
SKELS    := $(OUTPUT)/vringmed.skel.h $(OUTPUT)/probe_fentry.skel.h $(OUTPUT)/xdp_steer.skel.h
LIB_OBJS := $(call objs,,$(LIB_SRCS))
LIB      := $(OUTPUT)/libvringmed.a
TESTLIB  := $(OUTPUT)/libvrmtest.a

TEST_BINS := $(OUTPUT)/test_core $(OUTPUT)/test_core.s390x $(OUTPUT)/test_bpf $(OUTPUT)/test_proxy $(OUTPUT)/test_suppress \
	     $(OUTPUT)/test_suppress \
	     $(OUTPUT)/legacy_driver $(OUTPUT)/legacy_driver.s390x $(OUTPUT)/bench_core \
	     $(OUTPUT)/bench_kick $(OUTPUT)/perf_compare $(OUTPUT)/vu_driver $(OUTPUT)/vu_driver.s390x $(OUTPUT)/test_vhost \
	     $(OUTPUT)/vu_blk_driver $(OUTPUT)/vu_blk_driver.s390x $(OUTPUT)/test_blk \
	     $(OUTPUT)/verifier_stats $(OUTPUT)/guest-traffic.s390x $(OUTPUT)/guest-traffic \
	     $(OUTPUT)/blk-guest-init.ppc64
BINS     := $(OUTPUT)/vringmed-demo $(OUTPUT)/vringmedd $(OUTPUT)/vringmedctl

.PHONY: all setup test bench-core bench-kick perf-compare demo demo-blk demo-rig demo-xdp xdp-bench \
	clean verifier-stats fuzz fuzz-build perf-kick-phases FORCE
all: $(BPF_OBJS) $(SKELS) $(LIB) $(TESTLIB) $(BINS) $(TEST_BINS)
FORCE:

setup:
	$(Q)bash tools/setup.sh

$(OUTPUT):
	$(Q)mkdir -p $@

# ---- BPF ---------------------------------------------------------
$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(OUTPUT)/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(DEPFLAGS) -c $< -o $@

# bench-kick's floor programs (tools/kick_floor.bpf.c): not product code.
$(OUTPUT)/%.bpf.o: tools/%.bpf.c $(OUTPUT)/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(DEPFLAGS) -c $< -o $@

# Kept, or every build would make it again for its skeleton.
.SECONDARY: $(OUTPUT)/kick_floor.bpf.o

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# ---- objects -----------------------------------------------------
# Native objects wait for the skeletons: on a first build no .d file says
# yet which of them include one.  So do the native variants below.
$(OUTPUT)/%.o: %.c | $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

# test_core's: user/uxlate.c with a hook at every crash point of the core.
$(OUTPUT)/crash/%.o: %.c | $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -DVRM_CRASH_TEST -c $< -o $@

# test_suppress's: user/upoll.c with the race point (VRM_POLL_TEST) that
# widens the window the poller's re-checks close.
$(OUTPUT)/poll/%.o: %.c | $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -DVRM_POLL_TEST -c $< -o $@

# Cross-built for a big-endian s390x host (static, run under
# qemu-s390x-static); s390x-crash/ as crash/.
$(OUTPUT)/s390x/%.o: %.c
	$(call msg,CROSS-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CROSS_CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(OUTPUT)/s390x-crash/%.o: %.c
	$(call msg,CROSS-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CROSS_CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -DVRM_CRASH_TEST -c $< -o $@

# Test code finds the runner (test.h) and the headers the tests share in
# selftests/; tools/ and testlib/ do not.
$(foreach v,/ /crash/ /poll/ /s390x/ /s390x-crash/,$(OUTPUT)$(v)selftests/%.o): CPPFLAGS += -Iselftests

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

$(TESTLIB): $(call objs,,$(TESTLIB_SRCS))
	$(call msg,AR,$@)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

# $(call link,LIBRARIES): links $@ from the objects and archives among its
# prerequisites (objects first), then LIBRARIES.
define link
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $(filter %.o,$^) $(filter %.a,$^) $(1) -o $@
endef

define cross-link
	$(call msg,CROSS-LD,$@)
	$(Q)$(CROSS_CC) -static $(CFLAGS) $(LDFLAGS) $(filter %.o,$^) $(1) -o $@
endef

# ---- programs ----------------------------------------------------
$(OUTPUT)/vringmedd: $(call objs,,user/vringmedd.c) $(LIB)
	$(call link,$(LIBS))

$(OUTPUT)/vringmedctl: $(call objs,,user/vringmedctl.c) $(LIB)
	$(call link,$(LIBS))

$(OUTPUT)/vringmed-demo: $(call objs,,tools/demo.c) $(TESTLIB) $(LIB)
	$(call link,$(LIBS))

# ---- tests -------------------------------------------------------
# The core natively and, cross-compiled, on a big-endian s390x host
# under qemu-s390x-static.
TEST_CORE_ALL := $(TEST_CORE_SRCS) selftests/runner.c user/uxlate.c user/xdp_gro.c

$(OUTPUT)/test_core: $(call objs,crash/,$(TEST_CORE_ALL))
	$(call link,-lpthread)

$(OUTPUT)/test_core.s390x: $(call objs,s390x-crash/,$(TEST_CORE_ALL))
	$(call cross-link,-lpthread)

# A legacy driver process: writes its ring into a memfd, kicks an eventfd.
$(OUTPUT)/legacy_driver: $(call objs,,selftests/legacy_driver.c)
	$(call link,)

$(OUTPUT)/legacy_driver.s390x: $(call objs,s390x/,selftests/legacy_driver.c)
	$(call cross-link,)

# The vhost-user test driver: a VMM plus virtio-net guest, natively and as a
# big-endian s390x process (static, run under qemu-s390x-static).
VU_DRIVER_SRCS := selftests/vu_driver.c selftests/vu_client.c user/vu_wire.c

$(OUTPUT)/vu_driver: $(call objs,,$(VU_DRIVER_SRCS))
	$(call link,)

$(OUTPUT)/vu_driver.s390x: $(call objs,s390x/,$(VU_DRIVER_SRCS))
	$(call cross-link,)

# The same for virtio-blk: a VMM plus a block driver.
VU_BLK_DRIVER_SRCS := selftests/vu_blk_driver.c selftests/vu_client.c user/vu_wire.c

$(OUTPUT)/vu_blk_driver: $(call objs,,$(VU_BLK_DRIVER_SRCS))
	$(call link,)

$(OUTPUT)/vu_blk_driver.s390x: $(call objs,s390x/,$(VU_BLK_DRIVER_SRCS))
	$(call cross-link,)

# The s390x test guest's traffic tool (tools/guest/lifecycle.sh puts it in
# the guest's initramfs): static, as the guest has no C library.  Natively
# too, for test_guest.sh to check its checker on a veth pair.
$(OUTPUT)/guest-traffic.s390x: $(call objs,s390x/,tools/guest/traffic.c)
	$(call cross-link,)

$(OUTPUT)/guest-traffic: $(call objs,,tools/guest/traffic.c)
	$(call link,)

# The ppc64 block guest's /init (tools/guest/blk-run.sh puts it in its
# initramfs): static, big-endian, one file.
$(OUTPUT)/blk-guest-init.ppc64: tools/guest/blk-init.c | $(OUTPUT)
	$(call msg,CROSS-CC,$@)
	$(Q)$(PPC64_CC) -static -O2 -Wall -Wextra $< -o $@

# The programs a test starts are built with it (order-only: a new daemon
# does not relink the test).
$(OUTPUT)/test_vhost: $(call objs,,$(TEST_VHOST_SRCS) selftests/runner.c user/vu_wire.c) $(TESTLIB) \
		      | $(OUTPUT)/vu_driver $(OUTPUT)/vu_driver.s390x $(OUTPUT)/vringmedd
	$(call link,)

$(OUTPUT)/test_blk: $(call objs,,$(TEST_BLK_SRCS) selftests/runner.c) $(TESTLIB) $(OUTPUT)/user/vu_wire.o \
		    | $(OUTPUT)/vu_blk_driver $(OUTPUT)/vu_blk_driver.s390x $(OUTPUT)/vringmedd
	$(call link,)

# No kick and no completion lost under every suppression and polling mode:
# a driver process, BPF, a back-end and the daemon's used path racing.
$(OUTPUT)/test_suppress: $(call objs,poll/,$(TEST_SUPPRESS_SRCS) user/upoll.c) $(call objs,,selftests/runner.c) \
			 $(TESTLIB) $(LIB) | $(OUTPUT)/vringmedd
	$(call link,$(LIBS))

$(OUTPUT)/test_proxy: $(call objs,,$(TEST_PROXY_SRCS) selftests/runner.c) $(TESTLIB) $(LIB) | $(OUTPUT)/vringmedd
	$(call link,$(LIBS) -luring)

$(OUTPUT)/test_bpf: $(call objs,,$(TEST_BPF_SRCS) selftests/runner.c) $(TESTLIB) $(LIB) \
		    | $(OUTPUT)/vringmedd $(OUTPUT)/legacy_driver $(OUTPUT)/legacy_driver.s390x
	$(call link,$(LIBS) -luring)

$(OUTPUT)/bench_core: $(call objs,,tools/bench_core.c user/uxlate.c)
	$(call link,)

$(OUTPUT)/bench_kick: $(call objs,,tools/bench_kick.c) $(TESTLIB) $(LIB)
	$(call link,$(LIBS) -lm)

# bench_kick's object includes the floor programs' skeleton.
$(call objs,,tools/bench_kick.c): | $(OUTPUT)/kick_floor.skel.h

test: all fuzz-build
	$(Q)bash selftests/run.sh

# ---- fuzzing -----------------------------------------------------
# libFuzzer targets with ASan and UBSan; seeds in selftests/fuzz/corpus/.
# `make fuzz FUZZ_TIME=600` runs each target that long on a copy of its seeds.
FUZZ_CC      ?= clang-19
FUZZ_CFLAGS  := -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-Iinclude -Iuser -Itestlib -Iselftests -I$(OUTPUT)
FUZZ_TARGETS := $(patsubst selftests/fuzz/%.c,$(OUTPUT)/fuzz/%,$(wildcard selftests/fuzz/fuzz_*.c))
FUZZ_TIME    ?= 60

$(OUTPUT)/fuzz/obj/%.o: %.c | $(SKELS)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -c $< -o $@

define fuzz-link
	$(call msg,FUZZ-LD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $^ $(1) -o $@
endef

FUZZ_XLATE_SRCS   := selftests/fuzz/fuzz_xlate.c user/uxlate.c
FUZZ_VU_WIRE_SRCS := selftests/fuzz/fuzz_vu_wire.c user/vu_wire.c
FUZZ_GRO_SRCS     := selftests/fuzz/fuzz_gro.c user/xdp_gro.c
FUZZ_PROXY_SRCS   := selftests/fuzz/fuzz_proxy.c $(PROXY_SRCS) user/vu_wire.c user/uxlate.c \
		     user/log.c user/eventfd_id.c user/access.c user/num.c user/upoll.c

$(OUTPUT)/fuzz/fuzz_xlate: $(call objs,fuzz/obj/,$(FUZZ_XLATE_SRCS))
	$(call fuzz-link,)

$(OUTPUT)/fuzz/fuzz_vu_wire: $(call objs,fuzz/obj/,$(FUZZ_VU_WIRE_SRCS))
	$(call fuzz-link,)

$(OUTPUT)/fuzz/fuzz_gro: $(call objs,fuzz/obj/,$(FUZZ_GRO_SRCS))
	$(call fuzz-link,)

$(OUTPUT)/fuzz/fuzz_proxy: $(call objs,fuzz/obj/,$(FUZZ_PROXY_SRCS))
	$(call fuzz-link,-lxdp -lbpf -lpthread)

fuzz-build: $(FUZZ_TARGETS)

fuzz: fuzz-build
	$(Q)FUZZ_SMOKE_SECONDS=$(FUZZ_TIME) bash selftests/test_fuzz.sh

bench-core: $(OUTPUT)/bench_core
	$(Q)bash tools/bench-core.sh

# ---- perf-compare -------------------------------------------------
# Direct vs userspace relay vs BPF, one run: table, callgrind of the relay,
# latency CDF + stream plot (docs/perf-compare.png), last line.  Root.
# The binary is in TEST_BINS, so `all` keeps it compiling.
$(OUTPUT)/perf_compare: $(call objs,,tools/perf_compare.c) $(LIB)
	$(call link,$(LIBS))

perf-compare: $(OUTPUT)/perf_compare
	$(Q)tools/perf-compare

# Where an idle device's kick spends its time: perf_compare's paired pass
# alone, with a BPF object that stamps the clock at the kick's phases
# (-DVRM_KICK_STAMPS, built apart under $(OUTPUT)/stamps; the product object has
# no stamps).  Root; about a minute.
$(OUTPUT)/stamps/perf_compare: FORCE
	$(Q)$(MAKE) -s OUTPUT=$(OUTPUT)/stamps VRM_DEFS=-DVRM_KICK_STAMPS $(OUTPUT)/stamps/perf_compare

perf-kick-phases: $(OUTPUT)/stamps/perf_compare
	$(Q)$(OUTPUT)/stamps/perf_compare -k
# ---- end perf-compare -------------------------------------------------------

bench-kick: $(OUTPUT)/bench_kick
	$(Q)$(OUTPUT)/bench_kick

# What the verifier processed per program, against its 1M limit (root).
$(OUTPUT)/verifier_stats: $(call objs,,tools/verifier_stats.c) $(LIB)
	$(call link,$(LIBS))

verifier-stats: $(OUTPUT)/verifier_stats
	$(Q)$(OUTPUT)/verifier_stats

# The main job: a big-endian legacy s390x Linux guest under QEMU, through
# vringmedd, on dpdk-testpmd (tools/guest/run.sh), its two NICs loaded
# alike in turn, one with event idx and one without.  demo-rig: the smaller demo
# without a VMM (driver processes kicking eventfds).
demo: all
	$(Q)tools/guest/run.sh --mode legacy --path vringmedd --plan burst

# The block half: a big-endian legacy ppc64 guest's disk through vringmedd
# on qemu-storage-daemon (tools/guest/blk-run.sh).
demo-blk: all
	$(Q)tools/guest/blk-run.sh --path vringmedd

demo-rig: all
	$(Q)$(OUTPUT)/vringmed-demo

# The XDP half: two big-endian legacy s390x guests on a host interface (a
# veth into a namespace) through vringmedd's own AF_XDP back-end
# (tools/guest/xdp.sh).
demo-xdp: all
	$(Q)tools/guest/xdp.sh --guests 2

# The XDP back-end against vringmedd -> testpmd's net_af_xdp port, same run.
xdp-bench: all
	$(Q)tools/xdp-bench.sh

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)

# What the compiler found each object to include (absent before its first
# build, when the object is made anyway).
-include $(shell find $(OUTPUT) -name '*.d' 2>/dev/null)

# install, uninstall, deb
include mk/install.mk
