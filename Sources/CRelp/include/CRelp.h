// A small typed client over librelp (RELP, the Reliable Event Logging Protocol), loaded with dlopen on first use:
// only a RELP sink pays for librelp and the GnuTLS closure it drags in; every other handler starts without them.
#ifndef APITAP_CRELP_H
#define APITAP_CRELP_H
#include <stddef.h>

typedef struct apitap_relp apitap_relp;

// librelp's own codes (RELPERR_BASE 10000 + n) are passed through; these two are the shim's.
#define APITAP_RELP_NOT_LOADED -1
#define APITAP_RELP_OUT_OF_MEMORY -2

// Loads librelp.so.0 and resolves its entry points once (thread safe). 0, or APITAP_RELP_NOT_LOADED with the
// dynamic loader's reason in err.
int apitap_relp_load(char *err, size_t errlen);

// Opens a RELP session (TCP connect, optional TLS handshake, RELP "open" offer/answer). With tls, the server's
// certificate must chain to ca_file and name peer_name (librelp's "name" auth mode). Returns NULL with the
// librelp code and the first error librelp reported. cert_file/key_file (optional) are the client's certificate
// for receivers that require one (imrelp with TLS asks every client for a certificate).
apitap_relp *apitap_relp_open(const char *host, const char *port, int tls, const char *ca_file, const char *peer_name,
                              const char *cert_file, const char *key_file, unsigned timeout_seconds, int window, int *code, char *err, size_t errlen);
// Sends one syslog frame (blocks while the window of unanswered frames is full, reading answers meanwhile).
int apitap_relp_send(apitap_relp *relp, const unsigned char *msg, size_t len);
// Sends RELP "close" and waits for its answer, then frees everything. Answers come in order, so once the close is
// answered every earlier frame was answered too. 0 only if that happened and librelp reported no error at any
// point of the session (a non-200 answer, a broken or timed-out session, a failed handshake).
int apitap_relp_close(apitap_relp *relp, char *err, size_t errlen);
// Frees without the close handshake (the session already failed).
void apitap_relp_abort(apitap_relp *relp);
// The first error librelp reported on this session (0 if none), its message in err.
int apitap_relp_first_error(apitap_relp *relp, char *err, size_t errlen);

// Blocks SIGPIPE on the calling thread (a receiver that goes away must fail a write, not end the process), and
// discards one left pending by such a write.
void apitap_relp_block_sigpipe(void);
void apitap_relp_drain_sigpipe(void);
#endif
