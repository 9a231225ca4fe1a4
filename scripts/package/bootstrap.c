/*
 * bootstrap: the Lambda entry point in the zip. A static executable (no loader, no shared objects) that
 * re-executes bin/apitap through the loader shipped in lib/, with lib/ as the only library path, so that
 * no library of the host image is ever loaded. A shell script cannot do this: the image may have no /bin/sh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void task_root(const char *argv0, char *out, size_t size) {
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
    if (slash && slash != argv0) {
        size_t n = (size_t)(slash - argv0);
        if (n >= size) n = size - 1;
        memcpy(out, argv0, n);
        out[n] = '\0';
        return;
    }
    const char *env = getenv("LAMBDA_TASK_ROOT");
    snprintf(out, size, "%s", (env && *env) ? env : "/var/task");
}

int main(int argc, char **argv) {
    char root[3072], loader[4096], libdir[4096], binary[4096];
    task_root(argc > 0 ? argv[0] : NULL, root, sizeof root);
    snprintf(loader, sizeof loader, "%s/lib/ld-linux-x86-64.so.2", root);
    snprintf(libdir, sizeof libdir, "%s/lib", root);
    snprintf(binary, sizeof binary, "%s/bin/apitap", root);
    /* The CA bundle and other files are found relative to the task root. */
    setenv("LAMBDA_TASK_ROOT", root, 0);

    char **args = calloc((size_t)argc + 7, sizeof *args);
    if (!args) return 127;
    int i = 0;
    args[i++] = loader;
    args[i++] = "--library-path";
    args[i++] = libdir;
    args[i++] = "--argv0";
    args[i++] = "bootstrap";
    args[i++] = binary;
    for (int k = 1; k < argc; k++) args[i++] = argv[k];
    args[i] = NULL;
    execv(loader, args);
    fprintf(stderr, "bootstrap: cannot execute %s: %s\n", loader, strerror(errno));
    return 127;
}
