/* Base64 (RFC 4648, padded), the encoding of job output on the wire: wardend encodes
 * every byte a job writes when a client asks for it, the CLI decodes them, so both
 * run at memory speed. On x86-64 with AVX2 (checked at run time), 24 bytes <-> 32
 * characters per step with the method of Muła and Lemire ("Faster Base64 Encoding
 * and Decoding Using AVX2 Instructions", 2018); elsewhere, and for the tails, a
 * table per character position. */
#include "util.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_AVX2_PATH 1
#include <immintrin.h>
#endif

static const char enc_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int use_avx2(void)
{
#ifdef HAVE_AVX2_PATH
    static int cached = -1;
    if (cached < 0)
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    return cached;
#else
    return 0;
#endif
}

#ifdef HAVE_AVX2_PATH
/* 24 input bytes (12 in each 128-bit lane, at offset 4 in the low lane) -> 32 six-bit
 * values, one per byte. */
__attribute__((target("avx2"))) static inline __m256i enc_reshuffle(__m256i in)
{
    in = _mm256_shuffle_epi8(in,
                             _mm256_set_epi8(10, 11, 9, 10, 7, 8, 6, 7, 4, 5, 3, 4, 1, 2, 0, 1, 14,
                                             15, 13, 14, 11, 12, 10, 11, 8, 9, 7, 8, 5, 6, 4, 5));
    __m256i t0 = _mm256_and_si256(in, _mm256_set1_epi32(0x0fc0fc00));
    __m256i t1 = _mm256_mulhi_epu16(t0, _mm256_set1_epi32(0x04000040));
    __m256i t2 = _mm256_and_si256(in, _mm256_set1_epi32(0x003f03f0));
    __m256i t3 = _mm256_mullo_epi16(t2, _mm256_set1_epi32(0x01000010));
    return _mm256_or_si256(t1, t3);
}

/* Six-bit values -> their characters: add the offset of the value's range. */
__attribute__((target("avx2"))) static inline __m256i enc_translate(__m256i in)
{
    const __m256i lut =
        _mm256_setr_epi8(65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0, 65, 71, -4,
                         -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0);
    __m256i idx = _mm256_subs_epu8(in, _mm256_set1_epi8(51));
    __m256i gt25 = _mm256_cmpgt_epi8(in, _mm256_set1_epi8(25));
    idx = _mm256_sub_epi8(idx, gt25);
    return _mm256_add_epi8(in, _mm256_shuffle_epi8(lut, idx));
}

/* Whole steps while 32 bytes can be read: returns the bytes consumed (4 / 3 of it
 * written to out). */
__attribute__((target("avx2"))) static size_t enc_avx2(const unsigned char *in, size_t len,
                                                       char *out)
{
    const __m256i perm = _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6);
    size_t done = 0;

    for (; len - done >= 32; done += 24, out += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(in + done));
        v = _mm256_permutevar8x32_epi32(v, perm);
        v = enc_translate(enc_reshuffle(v));
        _mm256_storeu_si256((__m256i *)(void *)out, v);
    }
    return done;
}

/* 32 characters -> 24 bytes, or -1 when one of them is not in the alphabet. out may
 * be in itself at or before in (32 bytes are stored, 24 of them meant). */
__attribute__((target("avx2"))) static int dec_step(const unsigned char *in, unsigned char *out)
{
    const __m256i lut_lo =
        _mm256_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A,
                         0x1B, 0x1B, 0x1B, 0x1A, 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                         0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
    const __m256i lut_hi =
        _mm256_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10,
                         0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08,
                         0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
    const __m256i lut_roll =
        _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 19, 4,
                         -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i mask_2f = _mm256_set1_epi8(0x2f);
    __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)in);
    __m256i hi_nib = _mm256_and_si256(_mm256_srli_epi32(v, 4), mask_2f);
    __m256i lo_nib = _mm256_and_si256(v, mask_2f);
    __m256i hi = _mm256_shuffle_epi8(lut_hi, hi_nib);
    __m256i lo = _mm256_shuffle_epi8(lut_lo, lo_nib);

    if (!_mm256_testz_si256(lo, hi))
        return -1;
    __m256i eq_2f = _mm256_cmpeq_epi8(v, mask_2f);
    __m256i roll = _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(eq_2f, hi_nib));
    v = _mm256_add_epi8(v, roll);
    /* Four six-bit values per 32 bits -> three bytes, packed within each lane, then
     * the lanes together. */
    v = _mm256_maddubs_epi16(v, _mm256_set1_epi32(0x01400140));
    v = _mm256_madd_epi16(v, _mm256_set1_epi32(0x00011000));
    v = _mm256_shuffle_epi8(v, _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1,
                                                -1, 2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1,
                                                -1, -1));
    v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 1, 2, 4, 5, 6, -1, -1));
    _mm256_storeu_si256((__m256i *)(void *)out, v);
    return 0;
}

/* Whole steps while at least 64 characters are left, so that the last group (which
 * may hold padding) and the 8 bytes stored past each step's 24 stay within the
 * output. Returns the characters consumed, or (size_t)-1 on a bad character. */
__attribute__((target("avx2"))) static size_t dec_avx2(const unsigned char *in, size_t len,
                                                       unsigned char *out)
{
    size_t done = 0;

    for (; len - done >= 64; done += 32, out += 24)
        if (dec_step(in + done, out) < 0)
            return (size_t)-1;
    return done;
}
#endif

void util_base64_into(const void *buf, size_t len, char *out)
{
    const unsigned char *p = buf;
    char *o = out;
    size_t i = 0;

#ifdef HAVE_AVX2_PATH
    if (use_avx2()) {
        i = enc_avx2(p, len, o);
        o += i / 3 * 4;
    }
#endif
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        o[0] = enc_tab[v >> 18];
        o[1] = enc_tab[(v >> 12) & 63];
        o[2] = enc_tab[(v >> 6) & 63];
        o[3] = enc_tab[v & 63];
        o += 4;
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        o[0] = enc_tab[v >> 18];
        o[1] = enc_tab[(v >> 12) & 63];
        o[2] = i + 1 < len ? enc_tab[(v >> 6) & 63] : '=';
        o[3] = '=';
    }
}

char *util_base64(const void *buf, size_t len)
{
    char *out = malloc(util_base64_len(len) + 1);

    if (out == NULL)
        return NULL;
    util_base64_into(buf, len, out);
    out[util_base64_len(len)] = '\0';
    return out;
}

/* Four tables, one per position in a group of four characters, each holding the
 * character's six bits already shifted into place, and BAD for a byte outside the
 * alphabet: a group is one OR of four lookups and one test. */
#define B64_BAD 0x80000000u
static uint32_t dec_tab[4][256];

static void dec_init(void)
{
    for (int k = 0; k < 4; k++)
        for (int c = 0; c < 256; c++)
            dec_tab[k][c] = B64_BAD;
    for (uint32_t v = 0; v < 64; v++)
        for (int k = 0; k < 4; k++)
            dec_tab[k][(unsigned char)enc_tab[v]] = v << (18 - 6 * k);
}

ssize_t util_base64_decode(const char *in, size_t len, void *out)
{
    const unsigned char *p = (const unsigned char *)in;
    unsigned char *o = out;
    size_t groups, pad = 0, g = 0;

    if (dec_tab[0][0] == 0)
        dec_init();
    if (len % 4 != 0)
        return -1;
    if (len > 0 && p[len - 1] == '=')
        pad = p[len - 2] == '=' ? 2 : 1;
    groups = len / 4 - (pad ? 1 : 0);
#ifdef HAVE_AVX2_PATH
    if (use_avx2()) {
        size_t k = dec_avx2(p, len, o);
        if (k == (size_t)-1)
            return -1;
        g = k / 4;
        p += k;
        o += k / 4 * 3;
    }
#endif
    for (; g < groups; g++, p += 4, o += 3) {
        uint32_t v = dec_tab[0][p[0]] | dec_tab[1][p[1]] | dec_tab[2][p[2]] | dec_tab[3][p[3]];
        if (v & B64_BAD)
            return -1;
        o[0] = (unsigned char)(v >> 16);
        o[1] = (unsigned char)(v >> 8);
        o[2] = (unsigned char)v;
    }
    if (pad) {
        uint32_t v = dec_tab[0][p[0]] | dec_tab[1][p[1]] | (pad == 1 ? dec_tab[2][p[2]] : 0);
        /* The bits past the last byte must be zero, as an encoder writes them. */
        if ((v & B64_BAD) || (v & (pad == 1 ? 0xffu : 0xffffu)))
            return -1;
        *o++ = (unsigned char)(v >> 16);
        if (pad == 1)
            *o++ = (unsigned char)(v >> 8);
    }
    return (ssize_t)(o - (unsigned char *)out);
}
