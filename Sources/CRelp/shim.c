// Implementation of CRelp.h: librelp's client API through dlopen/dlsym, with its error callbacks recorded per session.
#include "CRelp.h"
#include <dlfcn.h>
#include <librelp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Every librelp function the client uses, declared once: the loader resolves them and the shim calls through them.
#define APITAP_RELP_FUNCTIONS(X) \
    X(relpRetVal, relpEngineConstruct, (relpEngine_t **)) \
    X(relpRetVal, relpEngineDestruct, (relpEngine_t **)) \
    X(relpRetVal, relpEngineSetDbgprint, (relpEngine_t *, void (*)(char *, ...))) \
    X(relpRetVal, relpEngineSetEnableCmd, (relpEngine_t *, unsigned char *, relpCmdEnaState_t)) \
    X(relpRetVal, relpEngineSetOnErr, (relpEngine_t *, void (*)(void *, char *, char *, relpRetVal))) \
    X(relpRetVal, relpEngineSetOnAuthErr, (relpEngine_t *, void (*)(void *, char *, char *, relpRetVal))) \
    X(relpRetVal, relpEngineSetTLSLibByName, (relpEngine_t *, const char *)) \
    X(relpRetVal, relpEngineCltConstruct, (relpEngine_t *, relpClt_t **)) \
    X(relpRetVal, relpEngineCltDestruct, (relpEngine_t *, relpClt_t **)) \
    X(relpRetVal, relpCltSetUsrPtr, (relpClt_t *, void *)) \
    X(relpRetVal, relpCltSetTimeout, (relpClt_t *, unsigned)) \
    X(relpRetVal, relpCltSetConnTimeout, (relpClt_t *, int)) \
    X(relpRetVal, relpCltSetWindowSize, (relpClt_t *, int)) \
    X(relpRetVal, relpCltEnableTLS, (relpClt_t *)) \
    X(relpRetVal, relpCltSetCACert, (relpClt_t *, char *)) \
    X(relpRetVal, relpCltSetOwnCert, (relpClt_t *, char *)) \
    X(relpRetVal, relpCltSetPrivKey, (relpClt_t *, char *)) \
    X(relpRetVal, relpCltSetAuthMode, (relpClt_t *, char *)) \
    X(relpRetVal, relpCltAddPermittedPeer, (relpClt_t *, char *)) \
    X(relpRetVal, relpCltConnect, (relpClt_t *, int, unsigned char *, unsigned char *)) \
    X(relpRetVal, relpCltSendSyslog, (relpClt_t *, unsigned char *, size_t))

#define APITAP_DECLARE(ret, name, args) static ret (*p_##name) args;
APITAP_RELP_FUNCTIONS(APITAP_DECLARE)

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[512];
static int loaded;

static void load(void) {
    // RTLD_LOCAL: librelp's GnuTLS and OpenSSL symbols stay out of the global namespace (libcurl has its own libssl).
    void *h = dlopen("librelp.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(load_error, sizeof load_error, "cannot load librelp.so.0: %s", e ? e : "unknown error");
        return;
    }
#define APITAP_RESOLVE(ret, name, args) \
    p_##name = (ret (*) args)dlsym(h, #name); \
    if (!p_##name) { snprintf(load_error, sizeof load_error, "librelp.so.0 has no %s", #name); return; }
    APITAP_RELP_FUNCTIONS(APITAP_RESOLVE)
    loaded = 1;
}

int apitap_relp_load(char *err, size_t errlen) {
    pthread_once(&load_once, load);
    if (loaded) return 0;
    if (err && errlen) snprintf(err, errlen, "%s", load_error);
    return APITAP_RELP_NOT_LOADED;
}


struct apitap_relp {
    relpEngine_t *engine;
    relpClt_t *client;
    int first_code;
    char first_message[400];
};

// librelp reports session trouble (a broken or timed-out session, a non-200 answer, TLS and auth failures) only
// through these callbacks; the first one is what the operator needs, later ones are its consequences.
static void record_error(void *usr, char *objinfo, char *msg, relpRetVal code) {
    struct apitap_relp *r = usr;
    if (!r || r->first_code != 0) return;
    r->first_code = code == 0 ? RELP_RET_ERR_INTERNAL : code;
    snprintf(r->first_message, sizeof r->first_message, "%s (%s)", msg ? msg : "error", objinfo ? objinfo : "");
}

// librelp calls its debug printer unconditionally and leaves it NULL until one is set.
static void quiet(char *fmt, ...) { (void)fmt; }

static void free_session(struct apitap_relp *r) {
    if (r->client) p_relpEngineCltDestruct(r->engine, &r->client);
    if (r->engine) p_relpEngineDestruct(&r->engine);
    free(r);
}

static int copy_error(struct apitap_relp *r, int code, char *err, size_t errlen) {
    if (r->first_code != 0) code = r->first_code;
    if (err && errlen) snprintf(err, errlen, "%s", r->first_message[0] ? r->first_message : "librelp call failed");
    return code;
}

apitap_relp *apitap_relp_open(const char *host, const char *port, int tls, const char *ca_file, const char *peer_name,
                              const char *cert_file, const char *key_file, unsigned timeout_seconds, int window, int *code, char *err, size_t errlen) {
    *code = apitap_relp_load(err, errlen);
    if (*code != 0) return NULL;
    struct apitap_relp *r = calloc(1, sizeof *r);
    if (!r) { *code = APITAP_RELP_OUT_OF_MEMORY; snprintf(err, errlen, "out of memory"); return NULL; }
    int rc = p_relpEngineConstruct(&r->engine);
    if (rc == 0) rc = p_relpEngineSetDbgprint(r->engine, quiet);
    // The syslog command must be required, or librelp forbids it and every send fails with CMD_DISABLED.
    if (rc == 0) rc = p_relpEngineSetEnableCmd(r->engine, (unsigned char *)"syslog", eRelpCmdState_Required);
    if (rc == 0) rc = p_relpEngineSetOnErr(r->engine, record_error);
    if (rc == 0) rc = p_relpEngineSetOnAuthErr(r->engine, record_error);
    // OpenSSL: the library the package already ships for libcurl (librelp links GnuTLS too, but it stays unused).
    if (rc == 0 && tls) rc = p_relpEngineSetTLSLibByName(r->engine, "openssl");
    if (rc == 0) rc = p_relpEngineCltConstruct(r->engine, &r->client);
    if (rc == 0) rc = p_relpCltSetUsrPtr(r->client, r);
    if (rc == 0) rc = p_relpCltSetTimeout(r->client, timeout_seconds);
    if (rc == 0) rc = p_relpCltSetConnTimeout(r->client, (int)(timeout_seconds < 10 ? timeout_seconds : 10));
    if (rc == 0 && window > 0) rc = p_relpCltSetWindowSize(r->client, window);
    if (rc == 0 && tls) {
        rc = p_relpCltEnableTLS(r->client);
        if (rc == 0 && ca_file) rc = p_relpCltSetCACert(r->client, (char *)ca_file);
        if (rc == 0) rc = p_relpCltSetAuthMode(r->client, "name");
        if (rc == 0 && peer_name) rc = p_relpCltAddPermittedPeer(r->client, (char *)peer_name);
        if (rc == 0 && cert_file) rc = p_relpCltSetOwnCert(r->client, (char *)cert_file);
        if (rc == 0 && key_file) rc = p_relpCltSetPrivKey(r->client, (char *)key_file);
    }
    if (rc == 0) rc = p_relpCltConnect(r->client, 0, (unsigned char *)port, (unsigned char *)host);
    if (rc != 0 || r->first_code != 0) {
        *code = copy_error(r, rc, err, errlen);
        free_session(r);
        return NULL;
    }
    return r;
}

int apitap_relp_send(apitap_relp *r, const unsigned char *msg, size_t len) {
    int rc = p_relpCltSendSyslog(r->client, (unsigned char *)msg, len);
    return rc != 0 ? rc : r->first_code;
}

int apitap_relp_close(apitap_relp *r, char *err, size_t errlen) {
    // Destructing the client sends "close" and waits (up to the session timeout) for its answer, reading every
    // answer still due before it; failures on the way come back through record_error.
    int rc = p_relpEngineCltDestruct(r->engine, &r->client);
    rc = copy_error(r, rc, err, errlen);
    free_session(r);
    return rc;
}

void apitap_relp_abort(apitap_relp *r) { free_session(r); }

int apitap_relp_first_error(apitap_relp *r, char *err, size_t errlen) {
    if (r->first_code == 0) return 0;
    return copy_error(r, 0, err, errlen);
}

void apitap_relp_block_sigpipe(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

void apitap_relp_drain_sigpipe(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) == SIGPIPE) {}
}
