// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The legacy ring layout and the byte-order accessors. */
#include <string.h>

#include "test.h"
#include "uxlate.h"
#include "core.h"

VRM_TEST(layout)
{
	static const struct { uint32_t size; uint64_t avail, used, total; } want[] = {
		{ 8, 128, 4096, 4096 + 6 + 64 },
		{ 256, 4096, 8192, 8192 + 6 + 2048 },
		{ 1024, 16384, 20480, 20480 + 6 + 8192 },
	};

	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!vrm_subtest("legacy_size_%u", want[i].size))
			continue;
		VRM_EQ(vrm_legacy_avail_off(want[i].size), want[i].avail);
		VRM_EQ(vrm_legacy_used_off(want[i].size), want[i].used);
		VRM_EQ(vrm_legacy_ring_bytes(want[i].size), want[i].total);
	}
	if (vrm_subtest("ring_size_rules")) {
		VRM_TRUE(vrm_ring_size_ok(256, VRM_MAX_RING));
		VRM_TRUE(!vrm_ring_size_ok(0, VRM_MAX_RING));
		VRM_TRUE(!vrm_ring_size_ok(384, VRM_MAX_RING));
		VRM_TRUE(!vrm_ring_size_ok(2048, VRM_MAX_RING));
	}
	if (vrm_subtest("shadow_parts_page_aligned")) {
		VRM_EQ(VRM_SHADOW_AVAIL_OFF % 4096, 0);
		VRM_EQ(VRM_SHADOW_USED_OFF % 4096, 0);
		VRM_EQ(sizeof(struct vrm_shadow_queue) % 4096, 0);
	}
}

VRM_TEST(byteorder)
{
	const uint8_t b16[2] = { 0x12, 0x34 };
	const uint8_t b32[4] = { 0x12, 0x34, 0x56, 0x78 };
	const uint8_t b64[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	__u16 v16;
	__u32 v32;
	__u64 v64;

	memcpy(&v16, b16, 2);
	memcpy(&v32, b32, 4);
	memcpy(&v64, b64, 8);
	if (vrm_subtest("load_be")) {
		VRM_EQ(vrm_ld16(VRM_ORDER_BE, &v16), 0x1234);
		VRM_EQ(vrm_ld32(VRM_ORDER_BE, &v32), 0x12345678);
		VRM_EQ(vrm_ld64(VRM_ORDER_BE, &v64), 0x0102030405060708ull);
	}
	if (vrm_subtest("load_le")) {
		VRM_EQ(vrm_ld16(VRM_ORDER_LE, &v16), 0x3412);
		VRM_EQ(vrm_ld32(VRM_ORDER_LE, &v32), 0x78563412);
		VRM_EQ(vrm_ld64(VRM_ORDER_LE, &v64), 0x0807060504030201ull);
	}
	if (vrm_subtest("store_roundtrip")) {
		uint8_t out[8];
		__u64 w;

		vrm_st64(VRM_ORDER_BE, &w, 0x0102030405060708ull);
		memcpy(out, &w, 8);
		VRM_EQ(out[0], 1);
		VRM_EQ(out[7], 8);
		vrm_st64(VRM_ORDER_LE, &w, 0x0102030405060708ull);
		memcpy(out, &w, 8);
		VRM_EQ(out[0], 8);
		VRM_EQ(out[7], 1);
	}
}
