// Typed wrappers over zlib's init macros (deflateInit2/inflateInit2 pass version and struct size).
#ifndef APITAP_CZLIB_H
#define APITAP_CZLIB_H
#include <zlib.h>

// windowBits 15 + 16 selects the gzip wrapper.
int apitap_deflate_init_gzip(z_stream *stream, int level);
// windowBits 15 + 32 accepts gzip or zlib headers.
int apitap_inflate_init_auto(z_stream *stream);
#endif
