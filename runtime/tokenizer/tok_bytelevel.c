// tok_bytelevel.c: the byte <-> code point alphabet of GPT-2 style byte-level
// BPE. Vocabularies spell every byte as a printable character: printable
// Latin-1 bytes stand for themselves, the other 68 bytes (controls, space,
// DEL, NBSP, soft hyphen) for U+0100 upwards in byte order.
#include "runtime/tokenizer/tok_internal.h"

// ----------------------------------------------------------------------------
// The mapping

static bool byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

// The 68 others, in byte order: 0x00-0x20, 0x7f-0xa0, 0xad.
uint32_t bytelevel_char_of(uint8_t b) {
    if (byte_is_printable(b)) return b;
    if (b <= 0x20) return 0x100 + b;
    if (b >= 0x7f && b <= 0xa0) return 0x121 + (b - 0x7f);
    return 0x143; // 0xad
}

int bytelevel_byte_of(uint32_t cp) {
    if (cp < 0x100) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp <= 0x120) return (int)(cp - 0x100);
    if (cp <= 0x142) return (int)(0x7f + (cp - 0x121));
    return cp == 0x143 ? 0xad : -1;
}

// ----------------------------------------------------------------------------
// Decoding a spelled token

// Reads one UTF-8 code point of 1-3 bytes (the alphabet ends at U+0143);
// returns its length or 0 when it is malformed or longer.
static size_t read_short_utf8(const unsigned char *s, size_t len, uint32_t *cp) {
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0 && len >= 2 && (s[1] & 0xc0) == 0x80) {
        *cp = ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
        return 2;
    }
    return 0;
}

bool bytelevel_decode(const char *s, size_t len, char *out, size_t *out_len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t step = read_short_utf8(u + i, len - i, &cp);
        int b = step ? bytelevel_byte_of(cp) : -1;
        if (b < 0) return false;
        out[n++] = (char)b;
        i += step;
    }
    *out_len = n;
    return true;
}
