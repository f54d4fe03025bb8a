// CRC-32C for the storage log's record checksums.
//
// Written in C because the CPU has an instruction for exactly this CRC
// (SSE 4.2 `crc32`, ARMv8 `crc32c*`), 8 bytes a cycle or so, and Swift has
// no portable way to reach it; no package in our mirror provides CRC-32C.
// A table-driven fallback covers CPUs without it. Recovery checksums every
// byte of the log, so this is what makes "1,000,000 messages in under 5 s"
// cheap.
#include "wharf_crc32c.h"

#include <string.h>

static uint32_t table[256];
static int table_ready;

static void build_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[i] = c;
    }
    table_ready = 1;
}

static uint32_t software(uint32_t crc, const uint8_t *p, size_t n) {
    if (!table_ready) build_table();  // idempotent: a race only builds it twice
    while (n--) crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t hardware(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}

static int has_hardware(void) {
    static int checked = -1;
    if (checked < 0) {
        __builtin_cpu_init();
        checked = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    }
    return checked;
}
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
static uint32_t hardware(uint32_t crc, const uint8_t *p, size_t n) {
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = __crc32cd(crc, word);
        p += 8;
        n -= 8;
    }
    while (n--) crc = __crc32cb(crc, *p++);
    return crc;
}
static int has_hardware(void) { return 1; }
#else
static uint32_t hardware(uint32_t crc, const uint8_t *p, size_t n) { return software(crc, p, n); }
static int has_hardware(void) { return 0; }
#endif

uint32_t wharf_crc32c(uint32_t crc, const void *data, size_t length) {
    const uint8_t *p = (const uint8_t *)data;
    uint32_t c = ~crc;
    c = has_hardware() ? hardware(c, p, length) : software(c, p, length);
    return ~c;
}
