# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# vringmed: plain GNU Make.  `make V=1` shows full commands.
.DELETE_ON_ERROR:
.SUFFIXES:

OUTPUT   := .output
CLANG    ?= clang-19
LLVM_STRIP ?= llvm-strip-19
BPFTOOL  ?= bpftool
CC       ?= gcc
CROSS_CC ?= s390x-linux-gnu-gcc
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/;s/s390x/s390/')

CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Iinclude -Iuser -I$(OUTPUT) -D_GNU_SOURCE
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall \
	      -I$(OUTPUT) -Iinclude
LIBS     := -lbpf -lelf -lz -lpthread -lmicrohttpd -ljansson

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

HEADERS  := $(wildcard include/vringmed/*.h)
BPF_OBJS := $(OUTPUT)/vringmed.bpf.o $(OUTPUT)/probe_fentry.bpf.o
SKELS    := $(OUTPUT)/vringmed.skel.h $(OUTPUT)/probe_fentry.skel.h
# One mediated device, in rooms (user/proxy_int.h): the fuzzer builds them too.
PROXY_SRCS := user/proxy.c user/proxy_vmm.c user/proxy_backend.c user/proxy_queue.c user/proxy_kick.c user/proxy_poll.c
LIB_SRCS := user/access.c user/uxlate.c user/upoll.c user/log.c user/loader.c user/eventfd_id.c user/vu_wire.c $(PROXY_SRCS) user/view.c user/metrics.c user/sdnotify.c
LIB_OBJS := $(patsubst user/%.c,$(OUTPUT)/%.o,$(LIB_SRCS))
LIB      := $(OUTPUT)/libvringmed.a

TEST_BINS := $(OUTPUT)/test_core $(OUTPUT)/test_core.s390x $(OUTPUT)/test_bpf $(OUTPUT)/test_proxy \
	     $(OUTPUT)/test_suppress \
	     $(OUTPUT)/legacy_driver $(OUTPUT)/legacy_driver.s390x $(OUTPUT)/bench_core \
	     $(OUTPUT)/bench_kick $(OUTPUT)/perf_compare $(OUTPUT)/vu_driver $(OUTPUT)/vu_driver.s390x $(OUTPUT)/test_vhost \
	     $(OUTPUT)/verifier_stats $(OUTPUT)/guest-traffic.s390x $(OUTPUT)/guest-traffic
BINS     := $(OUTPUT)/vringmed-demo $(OUTPUT)/vringmedd $(OUTPUT)/vringmedctl

.PHONY: all setup test bench-core bench-kick perf-compare demo demo-rig clean verifier-stats fuzz fuzz-build
all: $(BPF_OBJS) $(SKELS) $(LIB) $(BINS) $(TEST_BINS)

setup:
	$(Q)bash tools/setup.sh

$(OUTPUT):
	$(Q)mkdir -p $@

$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) $(HEADERS) $(OUTPUT)/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# bench-kick's floor programs (tools/kick_floor.bpf.c): not product code.
$(OUTPUT)/kick_floor.bpf.o: tools/kick_floor.bpf.c tools/kick_floor.h bpf/eventfd_id.bpf.h $(OUTPUT)/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(OUTPUT)/%.o: user/%.c $(HEADERS) $(wildcard user/*.h) $(SKELS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(OUTPUT)/vringmed-demo: tools/demo.c selftests/rig.c selftests/rig.h $(LIB) | $(OUTPUT)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $< selftests/rig.c $(LIB) $(LIBS) -o $@

$(OUTPUT)/vringmedd: user/vringmedd.c $(LIB) | $(OUTPUT)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LIB) $(LIBS) -o $@

$(OUTPUT)/vringmedctl: user/vringmedctl.c $(LIB) | $(OUTPUT)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LIB) $(LIBS) -o $@

# Tests: the core natively and, cross-compiled, on a big-endian s390x host
# under qemu-s390x-static.
$(OUTPUT)/test_core: selftests/test_core.c selftests/runner.c selftests/test.h selftests/fixture.h selftests/hostile.h selftests/backend.h selftests/race.h selftests/ringgen.h user/uxlate.c $(HEADERS) | $(OUTPUT)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) -DVRM_CRASH_TEST selftests/test_core.c selftests/runner.c user/uxlate.c -lpthread -o $@

$(OUTPUT)/test_core.s390x: selftests/test_core.c selftests/runner.c selftests/test.h selftests/fixture.h selftests/hostile.h selftests/backend.h selftests/race.h selftests/ringgen.h user/uxlate.c $(HEADERS) | $(OUTPUT)
	$(call msg,CROSS,$@)
	$(Q)$(CROSS_CC) -static $(CFLAGS) -DVRM_CRASH_TEST selftests/test_core.c selftests/runner.c user/uxlate.c -lpthread -o $@

$(OUTPUT)/legacy_driver: selftests/legacy_driver.c $(HEADERS) | $(OUTPUT)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

$(OUTPUT)/legacy_driver.s390x: selftests/legacy_driver.c $(HEADERS) | $(OUTPUT)
	$(call msg,CROSS,$@)
	$(Q)$(CROSS_CC) -static $(CFLAGS) $< -o $@

# The vhost-user test driver: a VMM plus virtio-net guest, natively and as a
# big-endian s390x process (static, run under qemu-s390x-static).
$(OUTPUT)/vu_driver: selftests/vu_driver.c user/vu_wire.c user/vu_wire.h $(HEADERS) | $(OUTPUT)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $< user/vu_wire.c -o $@

$(OUTPUT)/vu_driver.s390x: selftests/vu_driver.c user/vu_wire.c user/vu_wire.h $(HEADERS) | $(OUTPUT)
	$(call msg,CROSS,$@)
	$(Q)$(CROSS_CC) -static $(CFLAGS) $< user/vu_wire.c -o $@

# The s390x test guest's traffic tool (tools/guest/lifecycle.sh puts it in
# the guest's initramfs): static, as the guest has no C library.  Natively
# too, for test_guest.sh to check its checker on a veth pair.
$(OUTPUT)/guest-traffic.s390x: tools/guest/traffic.c | $(OUTPUT)
	$(call msg,CROSS,$@)
	$(Q)$(CROSS_CC) -static $(CFLAGS) $< -o $@

$(OUTPUT)/guest-traffic: tools/guest/traffic.c | $(OUTPUT)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

$(OUTPUT)/test_vhost: $(OUTPUT)/vu_driver $(OUTPUT)/vu_driver.s390x $(OUTPUT)/vringmedd selftests/test_vhost.c selftests/peers.c selftests/peers.h selftests/runner.c selftests/test.h user/vu_wire.c user/vu_wire.h $(HEADERS) | $(OUTPUT)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) selftests/test_vhost.c selftests/peers.c selftests/runner.c user/vu_wire.c -o $@

$(OUTPUT)/test_proxy: $(OUTPUT)/vringmedd selftests/test_proxy.c selftests/peers.c selftests/peers.h selftests/runner.c selftests/test.h $(LIB) | $(OUTPUT)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) selftests/test_proxy.c selftests/peers.c selftests/runner.c $(LIB) $(LIBS) -luring -o $@

# No kick and no completion lost under every suppression and polling mode:
# a driver process, BPF, a back-end and the daemon's used path racing.
# Its poller is built with the race point (VRM_POLL_TEST) that widens the
# window its re-checks close.
$(OUTPUT)/test_suppress: selftests/test_suppress.c selftests/runner.c selftests/test.h selftests/ringgen.h user/upoll.c user/upoll.h $(LIB) | $(OUTPUT)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) -DVRM_POLL_TEST selftests/test_suppress.c selftests/runner.c user/upoll.c $(LIB) $(LIBS) -o $@

$(OUTPUT)/test_bpf: $(OUTPUT)/vringmedd selftests/test_bpf.c selftests/rig.c selftests/rig.h selftests/runner.c selftests/test.h selftests/ringgen.h selftests/hostile.h selftests/backend.h selftests/race.h $(LIB) | $(OUTPUT)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) selftests/test_bpf.c selftests/rig.c selftests/runner.c $(LIB) $(LIBS) -o $@

$(OUTPUT)/bench_core: tools/bench_core.c selftests/fixture.h selftests/ringgen.h user/uxlate.c $(HEADERS) | $(OUTPUT)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) tools/bench_core.c user/uxlate.c -o $@

$(OUTPUT)/bench_kick: tools/bench_kick.c tools/benchlib.h tools/kick_floor.h $(OUTPUT)/kick_floor.skel.h $(LIB) | $(OUTPUT)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LIB) $(LIBS) -lm -o $@

test: all fuzz-build
	$(Q)bash selftests/run.sh

# ---- fuzzing -----------------------------------------------------
# libFuzzer targets with ASan and UBSan; seeds in selftests/fuzz/corpus/.
# `make fuzz FUZZ_TIME=600` runs each target that long on a copy of its seeds.
FUZZ_CC      ?= clang-19
FUZZ_CFLAGS  := -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-Iinclude -Iuser -Iselftests
FUZZ_TARGETS := $(patsubst selftests/fuzz/%.c,$(OUTPUT)/fuzz/%,$(wildcard selftests/fuzz/fuzz_*.c))
FUZZ_TIME    ?= 60

$(OUTPUT)/fuzz:
	$(Q)mkdir -p $@

$(OUTPUT)/fuzz/fuzz_xlate: selftests/fuzz/fuzz_xlate.c selftests/fuzz/fuzz.h user/uxlate.c selftests/ringgen.h selftests/hostile.h $(HEADERS) | $(OUTPUT)/fuzz
	$(call msg,FUZZ-CC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) selftests/fuzz/fuzz_xlate.c user/uxlate.c -o $@

$(OUTPUT)/fuzz/fuzz_vu_wire: selftests/fuzz/fuzz_vu_wire.c selftests/fuzz/fuzz.h user/vu_wire.c user/vu_wire.h $(HEADERS) | $(OUTPUT)/fuzz
	$(call msg,FUZZ-CC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) selftests/fuzz/fuzz_vu_wire.c user/vu_wire.c -o $@

$(OUTPUT)/fuzz/fuzz_proxy: selftests/fuzz/fuzz_proxy.c selftests/fuzz/fuzz.h $(PROXY_SRCS) user/proxy.h user/proxy_int.h user/vu_wire.c user/vu_wire.h user/uxlate.c user/upoll.c user/upoll.h user/log.c user/eventfd_id.c user/access.c user/access.h user/loader.h $(HEADERS) | $(OUTPUT)/fuzz
	$(call msg,FUZZ-CC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) selftests/fuzz/fuzz_proxy.c $(PROXY_SRCS) user/vu_wire.c user/uxlate.c user/upoll.c user/log.c user/eventfd_id.c user/access.c -lbpf -lpthread -o $@

fuzz-build: $(FUZZ_TARGETS)

fuzz: fuzz-build
	$(Q)FUZZ_SMOKE_SECONDS=$(FUZZ_TIME) bash selftests/test_fuzz.sh

bench-core: $(OUTPUT)/bench_core
	$(Q)bash tools/bench-core.sh

# ---- perf-compare -------------------------------------------------
# Direct vs userspace relay vs BPF, one run: table, callgrind of the relay,
# latency CDF + stream plot (docs/perf-compare.png), last line.  Root.
# The binary is in TEST_BINS, so `all` keeps it compiling.
$(OUTPUT)/perf_compare: tools/perf_compare.c tools/benchlib.h selftests/ringgen.h $(HEADERS) $(SKELS) $(LIB) | $(OUTPUT)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LIB) $(LIBS) -o $@

perf-compare: $(OUTPUT)/perf_compare
	$(Q)tools/perf-compare
# ---- end perf-compare -------------------------------------------------------

bench-kick: $(OUTPUT)/bench_kick
	$(Q)$(OUTPUT)/bench_kick

# What the verifier processed per program, against its 1M limit (root).
$(OUTPUT)/verifier_stats: tools/verifier_stats.c $(SKELS) $(LIB) | $(OUTPUT)
	$(call msg,CCLD,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LIB) $(LIBS) -o $@

verifier-stats: $(OUTPUT)/verifier_stats
	$(Q)$(OUTPUT)/verifier_stats

# The main job: a big-endian legacy s390x Linux guest under QEMU, through
# vringmedd, on dpdk-testpmd (tools/guest/run.sh).  demo-rig: the smaller
# demo without a VMM (driver processes kicking eventfds).
demo: all
	$(Q)tools/guest/run.sh --mode legacy --path vringmedd

demo-rig: all
	$(Q)$(OUTPUT)/vringmed-demo

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)
