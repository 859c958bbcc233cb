/* The structs Fluent Bit 5.1 hands a Go input plugin (src/proxy/go/go.h,
 * include/fluent-bit/flb_plugin_proxy.h, include/fluent-bit/flb_api.h), with
 * their real layout: fluent-bit-go's input header gets the per-instance
 * context wrong, and several instances need it right. */
#ifndef DOCKER_LOGS_FLB_H
#define DOCKER_LOGS_FLB_H

#include <stdlib.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/syscall.h>

#define FLB_ERROR 0
#define FLB_OK 1
#define FLB_PROXY_INPUT_PLUGIN 1
#define FLB_PROXY_GOLANG 11

struct flb_plugin_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
    int event_type;
    void *config_map;
};

struct flb_plugin_input_proxy_context {
    int coll_fd;
    void *remote_context;
    void *proxy;
};

struct flb_api {
    const char *(*output_get_property)(const char *, void *);
    const char *(*input_get_property)(const char *, void *);
    void *(*output_get_cmt_instance)(void *);
    void *(*input_get_cmt_instance)(void *);
    void (*log_print)(int, const char *, int, const char *, ...);
    int (*input_log_check)(void *, int);
    int (*output_log_check)(void *, int);
    const char *(*custom_get_property)(const char *, void *);
    int (*custom_log_check)(void *, int);
};

struct flbgo_input_plugin {
    char *name;
    struct flb_api *api;
    void *i_ins;
    struct flb_plugin_input_proxy_context *context;
    int (*cb_init)(struct flbgo_input_plugin *);
    int (*cb_collect)(void **, size_t *);
    int (*cb_collect_ctx)(void *, void **, size_t *);
    int (*cb_cleanup)(void *);
    int (*cb_cleanup_ctx)(void *, void *);
    int (*cb_exit)(void);
};

static inline const char *flb_input_property(struct flb_api *api, void *ins, const char *key)
{
    if (api == NULL || api->input_get_property == NULL) {
        return NULL;
    }
    return api->input_get_property(key, ins);
}

static inline int flb_input_log_enabled(struct flb_api *api, void *ins, int level)
{
    if (api == NULL || api->log_print == NULL) {
        return 0;
    }
    if (api->input_log_check == NULL) {
        return level <= 3; /* info, Fluent Bit's default */
    }
    return api->input_log_check(ins, level);
}

/* log_print is variadic, which cgo cannot call. */
static inline void flb_input_log(struct flb_api *api, int level, const char *msg)
{
    api->log_print(level, NULL, 0, "%s", msg);
}

/* The OS thread calling in. Fluent Bit runs an instance's init, collect,
 * pause, resume and exit on that instance's own pthread, and the
 * context-free callbacks say nothing else about which instance they are
 * for. Read in C: Go's view of the thread would be its own M. */
static inline long flb_caller_thread(void)
{
    return (long) syscall(SYS_gettid);
}

#endif
