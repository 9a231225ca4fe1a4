// Implementation of the zlib init wrappers declared in CZlib.h.
#include "CZlib.h"

int apitap_deflate_init_gzip(z_stream *s, int level) {
    return deflateInit2(s, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
int apitap_inflate_init_auto(z_stream *s) {
    return inflateInit2(s, 15 + 32);
}
