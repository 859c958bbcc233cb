/*
 * fbhost.c - a small stand-in for Fluent Bit 5.1 that loads a Go input
 * plugin (.so built with -buildmode=c-shared) and drives it the way Fluent
 * Bit's Go proxy does (src/flb_plugin_proxy.c, src/proxy/go/go.c,
 * src/flb_log_event_decoder.c in Fluent Bit's source), so tests can run the
 * plugin without Fluent Bit.
 *
 * Build:
 *   gcc -O2 -Wall -Wextra -o build/fbhost test/host/fbhost.c \
 *       -ldl -lpthread -lmsgpackc
 *
 * Run `fbhost -h` for the options. Records go to stdout (or -o FILE) as one
 * JSON object per line; everything else goes to stderr.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Fluent Bit ABI (64-bit Linux, Fluent Bit 5.1.1), copied verbatim.
 * ------------------------------------------------------------------------ */
struct flb_plugin_proxy;

/* include/fluent-bit/flb_config_map.h: def->config_map is an array of these,
 * ended by an entry whose name is NULL. */
struct mk_list { struct mk_list *prev, *next; };
struct flb_config_map_val {
    union { int i_num; int boolean; double d_num; size_t s_num; char *str;
            struct mk_list *list; void *variant; } val;
    char *raw;
    struct mk_list *mult;
    struct mk_list _head;
};
struct flb_config_map {
    int type; char *name; char *def_value; int flags; int set_property;
    uintptr_t offset; char *desc;
    struct flb_config_map_val value;
    struct mk_list _head;
};
_Static_assert(sizeof(struct flb_config_map) == 104, "flb_config_map layout of 5.1.1");
_Static_assert(offsetof(struct flb_config_map, desc) == 40, "flb_config_map layout of 5.1.1");
enum {
    FLB_CONFIG_MAP_STR = 0, FLB_CONFIG_MAP_STR_PREFIX = 1, FLB_CONFIG_MAP_INT = 2,
    FLB_CONFIG_MAP_BOOL = 3, FLB_CONFIG_MAP_DOUBLE = 4, FLB_CONFIG_MAP_SIZE = 5,
    FLB_CONFIG_MAP_TIME = 6, FLB_CONFIG_MAP_DEPRECATED = 7, FLB_CONFIG_MAP_CLIST = 30,
    FLB_CONFIG_MAP_SLIST = 40, FLB_CONFIG_MAP_VARIANT = 50, FLB_CONFIG_MAP_MULT = 1
};

struct flb_plugin_proxy_def {           /* zeroed by Fluent Bit */
    int type; int proxy; int flags;
    char *name; char *description;
    int event_type;                      /* 0 = logs */
    struct flb_config_map *config_map;   /* optional: the plugin's keys */
};
struct flb_plugin_input_proxy_context {  /* one per input instance */
    int coll_fd;
    void *remote_context;                /* offset 8: the plugin sets it in Init */
    struct flb_plugin_proxy *proxy;
};
struct flbgo_input_plugin {              /* ONE per .so, reused for every instance */
    char *name; void *api; void *i_ins;
    struct flb_plugin_input_proxy_context *context;
    int (*cb_init)(struct flbgo_input_plugin *);
    int (*cb_collect)(void **, size_t *);
    int (*cb_collect_ctx)(void *, void **, size_t *);
    int (*cb_cleanup)(void *);
    int (*cb_cleanup_ctx)(void *, void *);
    int (*cb_exit)();
};
struct flb_api {                         /* order matters */
    const char *(*output_get_property)(const char *, void *);
    const char *(*input_get_property)(const char *, void *);   /* NULL when unset */
    void *(*output_get_cmt_instance)(void *);
    void *(*input_get_cmt_instance)(void *);
    void (*log_print)(int, const char *, int, const char *, ...);
    int (*input_log_check)(void *, int);
    int (*output_log_check)(void *, int);
    const char *(*custom_get_property)(const char *, void *);
    int (*custom_log_check)(void *, int);
};

#define FLB_PROXY_INPUT_PLUGIN 1
#define FLB_PROXY_GOLANG       11
#define FLB_OK                 1

/* Fluent Bit log levels (flb_log.h) */
enum { LVL_OFF = 0, LVL_ERROR = 1, LVL_WARN, LVL_INFO, LVL_DEBUG, LVL_TRACE };

/* Exit statuses */
enum { EXIT_OK = 0, EXIT_INIT = 1, EXIT_USAGE = 2, EXIT_INVALID = 3 };

/* ------------------------------------------------------------------------
 * Host state
 * ------------------------------------------------------------------------ */
struct prop { const char *key; const char *val; };

/* One -i: kept for the whole run, so a reload re-creates the same instances
 * and property strings handed to the plugin never dangle. */
struct inst_cfg {
    const char *name;           /* NULL: "<plugin>.<index>" */
    struct prop *props;
    int nprops;
    int log_level;              /* -L, or the instance's log_level property */
    int ring_capacity;          /* thread.ring_buffer.capacity, default 1024 */
    int ring_window;            /* thread.ring_buffer.window (%), default 5 */
    size_t mem_buf_limit;       /* 0: no limit */
};

enum cmd { CMD_NONE, CMD_PRERUN, CMD_PAUSE, CMD_RESUME, CMD_EXIT, CMD_TICK };

/* CMD_PAUSE's / CMD_RESUME's argument: why Fluent Bit pauses or resumes
 * the input. PAUSE_LIMIT is a signalled pause (as over mem_buf_limit, held
 * until SIGUSR2); PAUSE_MEM the host's own mem_buf_limit check. */
enum { PAUSE_SHUTDOWN = 0, PAUSE_LIMIT = 1, PAUSE_MEM = 2 };

/* FLB_INPUT_RING_BUFFER_CAPACITY and _WINDOW (src/flb_input.c), and
 * append_to_ring_buffer's retries (src/flb_input_chunk.c). */
#define RING_CAPACITY_DEFAULT 1024
#define RING_WINDOW_DEFAULT   5
#define RING_RETRIES          10
#define RING_RETRY_US         100000
/* flb_engine_start: the ring buffer collector runs every 250 ms
 * (FLB_DEV_RB_MS unset). */
#define RING_COLLECT_MS       250

/* include/fluent-bit/flb_input_chunk.h: a new chunk opens with 256 KB and
 * is locked (no more appends) once its content passes 2,048,000 bytes;
 * lib/chunkio cio_memfs_write grows it by 8 pages at a time. */
#define CHUNK_SIZE_HINT       262144
#define CHUNK_MAX_SIZE        2048000
#define CHUNK_REALLOC_PAGES   8

/* One collected buffer in an instance's ring buffer (struct input_chunk_raw):
 * Fluent Bit's copy of the hand-over, until the engine appends it to a chunk. */
struct held {
    char *json;                 /* its records as JSON lines (NULL with -q) */
    size_t json_len;
    long records;
    size_t bytes;
    char *raw;                  /* the copy of the hand-over */
    int pending;                /* records not printed/counted yet */
};

/* One memory chunk (lib/chunkio cio_memfs): the appended hand-overs. */
struct chunk {
    char *buf;
    size_t len, size;
    struct chunk *next;
};

struct gen;

/* One input instance; its address is the opaque i_ins given to the plugin. */
struct inst {
    int index;
    char name[128];
    const struct inst_cfg *cfg;
    struct gen *gen;
    struct flb_plugin_input_proxy_context *ctx;

    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t wake;        /* the instance thread waits on it */
    pthread_cond_t done;        /* the main thread waits on it */

    /* protected by mu */
    enum cmd cmd;
    int cmd_arg;
    int cmd_done;
    int init_done, init_ret;
    int ticking;                /* between PreRun and exit */
    int coll_active;            /* collector not paused */
    int in_tick;                /* collect callback + output running */
    struct timespec next_tick;  /* CLOCK_MONOTONIC */

    /* mem_buf_limit pauses/resumes asked by the engine (main thread),
     * run on the instance's thread like flb_input_thread_instance_pause:
     * the engine does not wait. They alternate pause, resume, ...; mem_req
     * counts those asked, mem_done those run (protected by mu). */
    unsigned mem_req, mem_done;

    int paused;                 /* only touched on the instance's thread */

    /* The ring buffer: filled on the instance's thread, drained by the
     * engine (main thread) into chunks. Over its limit (mem_buf_status
     * paused) the engine does not drain it, so what the input still
     * collects is held there. Protected by ring_mu. */
    pthread_mutex_t ring_mu;
    int sig_hold;               /* signalled pause (SIGUSR1 .. SIGUSR2) */
    int mem_hold;               /* over mem_buf_limit until a flush */
    struct held *ring;
    int ring_head, ring_len;
    int ring_signalled;         /* flush_pending: woke the engine already */

    /* Chunks: only touched on the main thread (the engine). */
    struct chunk *chunks, *chunks_tail;
    struct chunk *cur;          /* the chunk still open for appends */
    size_t chunk_bytes;         /* mem_chunks_size */
};

/* One registration of the .so: the first load, then one per hot reload. */
struct gen {
    void *dso;
    struct flb_plugin_proxy_def *def;
    struct flbgo_input_plugin *plugin;
    struct flb_api *api;
    struct inst *insts;
    int ninst;                  /* instances whose Init succeeded */
    struct inst *last_init;     /* last i_ins written into the shared plugin */
};

static struct {
    const char *so_path;
    long tick_ms;
    const char *out_path;
    int log_level;
    int quiet;
    unsigned long long max_records;
    double duration;
    int legacy;
    int pause_only;             /* -P N, -1 = all instances */
    int shutdown_pause;         /* -S */
    double flush;               /* -f: the service's flush, seconds */
} opt = { NULL, 1000, NULL, LVL_INFO, 0, 0, 0, 0, -1, 0, 1.0 };

static struct inst_cfg *cfgs;
static int ncfg;

static FILE *g_out;
static pthread_mutex_t g_out_mu = PTHREAD_MUTEX_INITIALIZER;   /* output + counters */
static pthread_mutex_t g_init_mu = PTHREAD_MUTEX_INITIALIZER;  /* FLBPluginInit */
static unsigned long long g_records, g_bytes, g_ticks;
static unsigned long long g_ring_dropped;                        /* records */
/* Peak chunk bytes per -i, across reloads (main thread only). */
static size_t *g_peak_chunk_bytes;
/* When the engine's flush timer was armed (re-armed by a reload). */
static struct timespec g_flush_origin;
/* log_print calls from threads that are not Fluent Bit's (see api_log_print) */
static unsigned long long g_foreign_logs;
/* Set on the instance threads: Fluent Bit's flb_worker_get() is non-NULL. */
static __thread int t_fluent_bit_thread;
static int g_max_notified;
static int g_pipe[2] = { -1, -1 };                              /* self-pipe */

static const int g_signals[] = { SIGUSR1, SIGUSR2, SIGHUP, SIGTERM, SIGINT };
#define NSIGNALS ((int) (sizeof(g_signals) / sizeof(g_signals[0])))
static int g_sig_warned[NSIGNALS];

/* Bytes written to the self-pipe when -m is reached, and when a ring buffer
 * fills past its window (signal numbers are > 0 and < 128). */
#define PIPE_MAX_RECORDS 0
#define PIPE_RING        255

/* ------------------------------------------------------------------------
 * stderr helpers: each line goes out in one write() so lines from several
 * threads (and the Go runtime) never interleave.
 * ------------------------------------------------------------------------ */
static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        p += w;
        n -= (size_t) w;
    }
}

/* "host: ..." lines: always printed. */
static void hostmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void hostmsg(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t) n > sizeof(buf) - 2) {
        n = (int) sizeof(buf) - 2;
    }
    buf[n++] = '\n';
    write_all(STDERR_FILENO, buf, (size_t) n);
}

/* Fluent Bit's flb_log_print layout (without colours, as on a non-tty):
 * "[YYYY/MM/DD HH:MM:SS] [ info] message". file/line are ignored there too. */
static void vlog_line(int type, const char *fmt, va_list ap)
{
    static const char *titles[] = { "", "error", "warn", "info", "debug", "trace" };
    char buf[4096];
    char unknown[16];
    const char *title;
    struct tm tm;
    time_t now = time(NULL);
    int len, n;

    if (type >= LVL_ERROR && type <= LVL_TRACE) {
        title = titles[type];
    }
    else {
        snprintf(unknown, sizeof(unknown), "%d", type);
        title = unknown;
    }
    localtime_r(&now, &tm);
    len = snprintf(buf, sizeof(buf) - 2, "[%i/%02i/%02i %02i:%02i:%02i] [%5s] ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                   tm.tm_hour, tm.tm_min, tm.tm_sec, title);
    if (len < 0) {
        return;
    }
    if (fmt) {
        n = vsnprintf(buf + len, sizeof(buf) - 2 - (size_t) len, fmt, ap);
        if (n > 0) {
            len += n;
        }
    }
    if ((size_t) len > sizeof(buf) - 2) {
        len = (int) sizeof(buf) - 2;
    }
    buf[len++] = '\n';
    write_all(STDERR_FILENO, buf, (size_t) len);
}

/* Host diagnostics, filtered by -L like flb_plg_* would be. */
static void hlog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hlog(int level, const char *fmt, ...)
{
    va_list ap;

    if (level > opt.log_level) {
        return;
    }
    va_start(ap, fmt);
    vlog_line(level, fmt, ap);
    va_end(ap);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        hostmsg("host: out of memory");
        _exit(EXIT_USAGE);
    }
    return p;
}

/* ------------------------------------------------------------------------
 * struct flb_api callbacks
 * ------------------------------------------------------------------------ */

/* Keys that Fluent Bit keeps for itself (flb_input_set_property): the plugin
 * never sees them through input_get_property. */
static int reserved_key(const char *k)
{
    static const char *exact[] = {
        "tag", "alias", "host", "port", "listen", "ipv6", "threaded",
        "mem_buf_limit", "log_level", "log_suppress_interval", "routable",
        "rate_window", "tls", NULL
    };
    static const char *prefix[] = {
        "storage.", "rate_gate", "thread.ring_buffer.", "tls.", "net.",
        "oauth2", NULL
    };
    int i;

    for (i = 0; exact[i]; i++) {
        if (strcasecmp(k, exact[i]) == 0) {
            return 1;
        }
    }
    for (i = 0; prefix[i]; i++) {
        if (strncasecmp(k, prefix[i], strlen(prefix[i])) == 0) {
            return 1;
        }
    }
    return 0;
}

static const char *api_input_get_property(const char *key, void *i_ins)
{
    struct inst *in = i_ins;
    int i;

    if (!in || !key || reserved_key(key)) {
        return NULL;
    }
    /* Fluent Bit returns the first match, compared case-insensitively. */
    for (i = 0; i < in->cfg->nprops; i++) {
        if (strcasecmp(in->cfg->props[i].key, key) == 0) {
            return in->cfg->props[i].val;
        }
    }
    return NULL;
}

/* flb_log_print queues the message to Fluent Bit's logger (log_file, log
 * counters) only on a Fluent Bit worker thread; from any other thread it
 * goes straight to stderr and Fluent Bit's log never sees it. The host
 * prints both the same way and counts the second kind. */
static void api_log_print(int type, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    (void) file;
    (void) line;
    if (!t_fluent_bit_thread) {
        __atomic_add_fetch(&g_foreign_logs, 1, __ATOMIC_RELAXED);
    }
    va_start(ap, fmt);
    vlog_line(type, fmt, ap);
    va_end(ap);
}

static int api_input_log_check(void *i_ins, int level)
{
    struct inst *in = i_ins;
    int max = in ? in->cfg->log_level : opt.log_level;

    return level <= max ? 1 : 0;
}

/* Not used by input plugins; harmless stubs rather than NULL pointers. */
static const char *api_null_property(const char *key, void *ins)
{
    (void) key;
    (void) ins;
    return NULL;
}

static void *api_null_cmt(void *ins)
{
    (void) ins;
    return NULL;
}

static int api_no_log(void *ins, int level)
{
    (void) ins;
    (void) level;
    return 0;
}

/* ------------------------------------------------------------------------
 * Growable string buffer and msgpack -> JSON
 * ------------------------------------------------------------------------ */
struct sbuf { char *p; size_t len, cap; };

static void sb_reserve(struct sbuf *b, size_t need)
{
    if (b->len + need + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        char *p;
        while (cap < b->len + need + 1) {
            cap *= 2;
        }
        p = realloc(b->p, cap);
        if (!p) {
            hostmsg("host: out of memory");
            _exit(EXIT_USAGE);
        }
        b->p = p;
        b->cap = cap;
    }
}

static void sb_put(struct sbuf *b, const void *s, size_t n)
{
    sb_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    sb_reserve(b, (size_t) n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 when it is not valid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    unsigned lo = 0x80, hi = 0xBF;
    size_t len, i;

    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    }
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) {
            lo = 0xA0;
        }
        else if (c == 0xED) {
            hi = 0x9F;
        }
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) {
            lo = 0x90;
        }
        else if (c == 0xF4) {
            hi = 0x8F;
        }
    }
    else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) {
            return 0;
        }
    }
    return len;
}

static void json_str(struct sbuf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *) str;
    size_t i = 0;

    sb_put(b, "\"", 1);
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c == '"') {
                sb_put(b, "\\\"", 2);
            }
            else if (c == '\\') {
                sb_put(b, "\\\\", 2);
            }
            else if (c < 0x20 || c == 0x7F) {
                sb_printf(b, "\\u%04x", c);
            }
            else {
                sb_put(b, &s[i], 1);
            }
            i++;
            continue;
        }
        size_t l = utf8_len(s + i, n - i);
        if (l) {
            sb_put(b, s + i, l);
            i += l;
        }
        else {
            sb_puts(b, "\\ufffd");     /* one per invalid byte */
            i++;
        }
    }
    sb_put(b, "\"", 1);
}

/* Shortest text that reads back as the same value; always has a '.' or an
 * exponent so it stays a float for JSON readers that keep ints apart. */
static void json_float(struct sbuf *b, double d, int is32)
{
    char tmp[64];
    int p;

    if (isnan(d) || isinf(d)) {
        sb_puts(b, "null");            /* JSON has no NaN/Inf */
        return;
    }
    for (p = is32 ? 6 : 15; p <= (is32 ? 9 : 17); p++) {
        snprintf(tmp, sizeof(tmp), "%.*g", p, d);
        if (is32 ? strtof(tmp, NULL) == (float) d : strtod(tmp, NULL) == d) {
            break;
        }
    }
    sb_puts(b, tmp);
    if (!strpbrk(tmp, ".eE")) {
        sb_puts(b, ".0");
    }
}

static void json_obj(struct sbuf *b, const msgpack_object *o);

static void json_key(struct sbuf *b, const msgpack_object *k)
{
    if (k->type == MSGPACK_OBJECT_STR) {
        json_str(b, k->via.str.ptr, k->via.str.size);
    }
    else if (k->type == MSGPACK_OBJECT_BIN) {
        json_str(b, k->via.bin.ptr, k->via.bin.size);
    }
    else {
        /* JSON keys must be strings: use the key's own JSON text. */
        struct sbuf t = { NULL, 0, 0 };
        json_obj(&t, k);
        json_str(b, t.p, t.len);
        free(t.p);
    }
}

static void json_obj(struct sbuf *b, const msgpack_object *o)
{
    uint32_t i;

    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        sb_puts(b, "null");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        sb_puts(b, o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        sb_printf(b, "%" PRIu64, o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        sb_printf(b, "%" PRId64, o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
        json_float(b, o->via.f64, 1);
        break;
    case MSGPACK_OBJECT_FLOAT64:
        json_float(b, o->via.f64, 0);
        break;
    case MSGPACK_OBJECT_STR:
        json_str(b, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        json_str(b, o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        sb_put(b, "[", 1);
        for (i = 0; i < o->via.array.size; i++) {
            if (i) {
                sb_put(b, ",", 1);
            }
            json_obj(b, &o->via.array.ptr[i]);
        }
        sb_put(b, "]", 1);
        break;
    case MSGPACK_OBJECT_MAP:
        sb_put(b, "{", 1);
        for (i = 0; i < o->via.map.size; i++) {
            if (i) {
                sb_put(b, ",", 1);
            }
            json_key(b, &o->via.map.ptr[i].key);
            sb_put(b, ":", 1);
            json_obj(b, &o->via.map.ptr[i].val);
        }
        sb_put(b, "}", 1);
        break;
    case MSGPACK_OBJECT_EXT:
        /* No JSON equivalent: keep the type and the raw bytes. */
        sb_printf(b, "{\"$ext\":%d,\"hex\":\"", (int) o->via.ext.type);
        for (i = 0; i < o->via.ext.size; i++) {
            sb_printf(b, "%02x", (unsigned char) o->via.ext.ptr[i]);
        }
        sb_put(b, "\"}", 2);
        break;
    default:
        sb_puts(b, "null");
        break;
    }
}

/* ------------------------------------------------------------------------
 * Record validation, as flb_log_event_decoder does it
 * ------------------------------------------------------------------------ */
static const char *type_name(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return "positive integer";
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative integer";
    case MSGPACK_OBJECT_FLOAT32: return "float32";
    case MSGPACK_OBJECT_FLOAT64: return "float64";
    case MSGPACK_OBJECT_STR: return "string";
    case MSGPACK_OBJECT_BIN: return "bin";
    case MSGPACK_OBJECT_ARRAY: return "array";
    case MSGPACK_OBJECT_MAP: return "map";
    case MSGPACK_OBJECT_EXT: return "ext";
    default: return "unknown";
    }
}

static uint32_t be32(const char *p)
{
    const unsigned char *u = (const unsigned char *) p;
    return ((uint32_t) u[0] << 24) | ((uint32_t) u[1] << 16) |
           ((uint32_t) u[2] << 8) | (uint32_t) u[3];
}

/* Timestamp to seconds + nanoseconds; on error writes the reason. */
static int decode_ts(const msgpack_object *ts, uint64_t *sec, uint32_t *nsec,
                     char *why, size_t wlen)
{
    *nsec = 0;
    switch (ts->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *sec = ts->via.u64;
        break;
    case MSGPACK_OBJECT_FLOAT64: {
        double f = ts->via.f64;
        /* Fluent Bit reads the seconds back as int32 to spot group markers,
         * so anything negative or >= 2^31 is never a normal record. */
        if (!(f >= 0.0) || f >= 2147483648.0) {
            snprintf(why, wlen, "float timestamp %.17g out of range [0, 2^31)", f);
            return -1;
        }
        *sec = (uint64_t) f;
        *nsec = (uint32_t) ((f - (double) *sec) * 1000000000.0);
        if (*nsec > 999999999u) {
            *nsec = 999999999u;
        }
        break;
    }
    case MSGPACK_OBJECT_FLOAT32:
        /* MSGPACK_OBJECT_FLOAT is FLOAT64: the decoder rejects float32. */
        snprintf(why, wlen, "Wrong timestamp type: float32 (Fluent Bit accepts "
                 "only float64, positive integer or ext type 0)");
        return -1;
    case MSGPACK_OBJECT_EXT:
        if (ts->via.ext.type == -1) {
            snprintf(why, wlen, "Wrong timestamp type: ext type -1 (the standard "
                     "msgpack timestamp, e.g. a Go time.Time), Fluent Bit needs "
                     "ext type 0 (EventTime) with 8 bytes");
            return -1;
        }
        if (ts->via.ext.type != 0) {
            snprintf(why, wlen, "Wrong timestamp type: ext type %d (expected 0)",
                     (int) ts->via.ext.type);
            return -1;
        }
        if (ts->via.ext.size != 8) {
            snprintf(why, wlen, "Wrong timestamp type: ext type 0 with %u bytes "
                     "(expected 8)", (unsigned) ts->via.ext.size);
            return -1;
        }
        *sec = be32(ts->via.ext.ptr);
        *nsec = be32(ts->via.ext.ptr + 4);
        if (*nsec >= 1000000000u) {
            snprintf(why, wlen, "EventTime nanoseconds %" PRIu32 " >= 1e9", *nsec);
            return -1;
        }
        break;
    default:
        snprintf(why, wlen, "Wrong timestamp type: %s", type_name(ts));
        return -1;
    }

    if (*sec == 0xFFFFFFFFu || *sec == 0xFFFFFFFEu) {
        snprintf(why, wlen, "timestamp seconds 0x%08" PRIX64 " is a group %s "
                 "marker, a plugin must not emit it", *sec,
                 *sec == 0xFFFFFFFFu ? "start" : "end");
        return -1;
    }
    if (*sec > 0x7FFFFFFFu) {
        snprintf(why, wlen, "timestamp seconds %" PRIu64 " out of range (Fluent "
                 "Bit reads them as int32)", *sec);
        return -1;
    }
    return 0;
}

/* Checks one record; fills ts/body. */
static int check_record(const msgpack_object *root, uint64_t *sec, uint32_t *nsec,
                        const msgpack_object **body, char *why, size_t wlen)
{
    const msgpack_object *header, *ts, *meta = NULL;

    if (root->type != MSGPACK_OBJECT_ARRAY) {
        snprintf(why, wlen, "Wrong root type: %s (expected a 2-element array)",
                 type_name(root));
        return -1;
    }
    if (root->via.array.size != 2) {
        snprintf(why, wlen, "Wrong root size: %u elements (expected 2)",
                 (unsigned) root->via.array.size);
        return -1;
    }
    header = &root->via.array.ptr[0];
    if (header->type == MSGPACK_OBJECT_ARRAY) {
        /* Fluent Bit v2 format: [[ts, {metadata}], {body}] */
        if (header->via.array.size != 2) {
            snprintf(why, wlen, "Wrong header size: %u elements (expected 2)",
                     (unsigned) header->via.array.size);
            return -1;
        }
        ts = &header->via.array.ptr[0];
        meta = &header->via.array.ptr[1];
    }
    else {
        ts = header;                    /* forward format: [ts, {body}] */
    }
    if (meta && meta->type != MSGPACK_OBJECT_MAP) {
        snprintf(why, wlen, "Wrong metadata type: %s (expected map)", type_name(meta));
        return -1;
    }
    *body = &root->via.array.ptr[1];
    if ((*body)->type != MSGPACK_OBJECT_MAP) {
        snprintf(why, wlen, "Wrong body type: %s (expected map)", type_name(*body));
        return -1;
    }
    return decode_ts(ts, sec, nsec, why, wlen);
}

/* Decodes a whole buffer into JSON lines (out may be NULL for -q). Returns
 * the record count, or -1 with the reason in why. */
static long decode_buffer(const char *data, size_t len, int index,
                          const struct timespec *recv, struct sbuf *out,
                          char *why, size_t wlen)
{
    msgpack_unpacked up;
    size_t off = 0, prev;
    long n = 0;
    char reason[512];

    msgpack_unpacked_init(&up);
    while (off < len) {
        const msgpack_object *body;
        uint64_t sec;
        uint32_t nsec;
        int r;

        prev = off;
        r = msgpack_unpack_next(&up, data, len, &off);
        if (r == MSGPACK_UNPACK_CONTINUE) {
            snprintf(why, wlen, "record %ld at byte %zu of %zu: truncated msgpack "
                     "object (Insufficient data)", n, prev, len);
            goto fail;
        }
        if (r != MSGPACK_UNPACK_SUCCESS) {
            snprintf(why, wlen, "record %ld at byte %zu of %zu: not msgpack "
                     "(Deserialization failure)", n, prev, len);
            goto fail;
        }
        if (check_record(&up.data, &sec, &nsec, &body, reason, sizeof(reason)) != 0) {
            snprintf(why, wlen, "record %ld at byte %zu: %s", n, prev, reason);
            goto fail;
        }
        if (out) {
            sb_printf(out, "{\"instance\":%d,\"time\":\"%" PRIu64 ".%09" PRIu32 "\","
                      "\"recv\":\"%lld.%09ld\",\"record\":", index, sec, nsec,
                      (long long) recv->tv_sec, (long) recv->tv_nsec);
            json_obj(out, body);
            sb_put(out, "}\n", 2);
        }
        n++;
    }
    msgpack_unpacked_destroy(&up);
    return n;

fail:
    msgpack_unpacked_destroy(&up);
    return -1;
}

/* ------------------------------------------------------------------------
 * Instance threads
 * ------------------------------------------------------------------------ */
static void *sym(void *dso, const char *name)
{
    void *s;

    dlerror();
    s = dlsym(dso, name);
    return dlerror() ? NULL : s;
}

static void mono_now(struct timespec *t)
{
    clock_gettime(CLOCK_MONOTONIC, t);
}

static void ts_add_ms(struct timespec *t, long ms)
{
    t->tv_sec += ms / 1000;
    t->tv_nsec += (ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void notify_main(unsigned char code)
{
    ssize_t r = write(g_pipe[1], &code, 1);
    (void) r;                           /* a full pipe already wakes main */
}

/* An invalid record ends the run at once, like a hard test failure. */
static void fatal_invalid(struct inst *in, const char *why)
{
    pthread_mutex_lock(&g_out_mu);      /* held until _exit: no more output */
    fflush(g_out);
    hostmsg("host: invalid record from instance %d: %s", in->index, why);
    hostmsg("host: records=%llu bytes=%llu", g_records, g_bytes);
    _exit(EXIT_INVALID);
}

/* Prints records and counts them; returns 1 when -m was just reached. */
static int emit(const char *json, size_t json_len, long n, size_t bytes)
{
    int reached;

    pthread_mutex_lock(&g_out_mu);
    if (json_len) {
        fwrite(json, 1, json_len, g_out);
        fflush(g_out);
    }
    g_records += (unsigned long long) n;
    g_bytes += bytes;
    g_ticks++;
    reached = opt.max_records && g_records >= opt.max_records && !g_max_notified;
    if (reached) {
        g_max_notified = 1;
    }
    pthread_mutex_unlock(&g_out_mu);
    return reached;
}

/* Over its limit (flb_input_buf_paused): the engine leaves its ring alone. */
static int ring_held(const struct inst *in)
{
    return in->sig_hold || in->mem_hold;
}

/* Prints/counts what waits unprinted in the ring, oldest first (ring_mu
 * held); *count gets how many buffers. Returns 1 when -m was just reached. */
static int ring_emit_pending(struct inst *in, int *count)
{
    int i, n = 0, reached = 0;

    for (i = 0; i < in->ring_len; i++) {
        struct held *h = &in->ring[(in->ring_head + i) % in->cfg->ring_capacity];
        if (!h->pending) {
            continue;
        }
        reached |= emit(h->json, h->json_len, h->records, h->bytes);
        free(h->json);
        h->json = NULL;
        h->pending = 0;
        n++;
    }
    *count = n;
    return reached;
}

/* append_to_ring_buffer: Fluent Bit copies the hand-over (malloc + memcpy
 * on the input's thread) into its ring buffer; when the ring is full it
 * retries 10 x 100 ms, then drops it, though the plugin counts it handed
 * over. While the input is not held, its records are printed at once (the
 * host counts them at the hand-over), unless older ones still wait. The
 * copy itself waits for the engine's ring buffer collector. */
static int ring_push(struct inst *in, struct sbuf *out, long n, const void *data,
                     size_t len)
{
    int cap = in->cfg->ring_capacity;
    int retries = 0, reached = 0, signal_engine, i, count;
    struct held *h;
    char *raw;

    raw = malloc(len);
    if (!raw) {
        hostmsg("host: out of memory");
        _exit(EXIT_USAGE);
    }
    memcpy(raw, data, len);

    pthread_mutex_lock(&in->ring_mu);
    while (in->ring_len >= cap) {
        pthread_mutex_unlock(&in->ring_mu);
        if (retries++ >= RING_RETRIES) {
            hlog(LVL_ERROR, "[input:%s:%s] could not enqueue records into the ring buffer",
                 in->gen->def->name, in->name);
            pthread_mutex_lock(&g_out_mu);
            g_ring_dropped += (unsigned long long) n;
            pthread_mutex_unlock(&g_out_mu);
            free(out->p);
            free(raw);
            return 0;
        }
        usleep(RING_RETRY_US);
        pthread_mutex_lock(&in->ring_mu);
    }
    if (!in->ring) {
        in->ring = xcalloc((size_t) cap, sizeof(*in->ring));
    }
    h = &in->ring[(in->ring_head + in->ring_len++) % cap];
    h->json = out->p;
    h->json_len = out->len;
    h->records = n;
    h->bytes = len;
    h->raw = raw;
    h->pending = 1;
    if (!ring_held(in)) {
        for (i = 0; i < in->ring_len - 1; i++) {
            if (in->ring[(in->ring_head + i) % cap].pending) {
                break;
            }
        }
        if (i == in->ring_len - 1) {    /* nothing older waits unprinted */
            reached = ring_emit_pending(in, &count);
        }
    }
    /* flb_ring_buffer_write: past the window (a percentage of the ring's
     * bytes, 8 per entry) the engine is woken to collect at once. */
    signal_engine = !in->ring_signalled &&
                    (size_t) in->ring_len * sizeof(void *) >=
                    (size_t) cap * sizeof(void *) * (size_t) in->cfg->ring_window / 100;
    if (signal_engine) {
        in->ring_signalled = 1;
    }
    pthread_mutex_unlock(&in->ring_mu);
    if (signal_engine) {
        notify_main(PIPE_RING);
    }
    return reached;
}

/* Resumed: the engine drains the ring again (flb_input_chunk_ring_buffer_collector);
 * the held records are printed now, in order. */
static void ring_release(struct inst *in)
{
    int reached, count;

    pthread_mutex_lock(&in->ring_mu);
    reached = ring_emit_pending(in, &count);
    pthread_mutex_unlock(&in->ring_mu);
    if (count) {
        hlog(LVL_DEBUG, "[host] %s: %d buffers released from the ring buffer", in->name,
             count);
    }
    if (reached) {
        notify_main(PIPE_MAX_RECORDS);
    }
}

/* At exit, what still waits in the ring is destroyed with the instance
 * (flb_input_chunk_ring_buffer_cleanup); only what was never printed is
 * lost. */
static void ring_discard(struct inst *in)
{
    long n = 0;
    int i, held = 0;

    pthread_mutex_lock(&in->ring_mu);
    for (i = 0; i < in->ring_len; i++) {
        struct held *h = &in->ring[(in->ring_head + i) % in->cfg->ring_capacity];
        if (h->pending) {
            n += h->records;
            held++;
        }
        free(h->json);
        free(h->raw);
    }
    if (held) {
        hostmsg("host: %s: %d buffers (%ld records) left in the ring buffer at exit, "
                "discarded", in->name, held, n);
        pthread_mutex_lock(&g_out_mu);
        g_ring_dropped += (unsigned long long) n;
        pthread_mutex_unlock(&g_out_mu);
    }
    in->ring_head = 0;
    in->ring_len = 0;
    free(in->ring);
    in->ring = NULL;
    pthread_mutex_unlock(&in->ring_mu);
}

/* One run of the collector (flb_proxy_input_cb_collect). */
static void do_tick(struct inst *in)
{
    struct flbgo_input_plugin *pl = in->gen->plugin;
    void *data = NULL;
    size_t len = 0;
    struct timespec recv;
    struct sbuf out = { NULL, 0, 0 };
    char why[1024];
    long n;
    int ret;

    if (pl->cb_collect_ctx) {
        ret = pl->cb_collect_ctx(in->ctx->remote_context, &data, &len);
    }
    else {
        ret = pl->cb_collect(&data, &len);
    }
    clock_gettime(CLOCK_REALTIME, &recv);
    hlog(LVL_TRACE, "[host] %s: collect returned %d, len=%zu", in->name, ret, len);

    /* Same order as Fluent Bit: len 0 first (no cleanup), then -1. */
    if (len == 0) {
        if (data) {
            hlog(LVL_WARN, "[host] %s: len=0 with a non-NULL buffer: Fluent Bit "
                 "neither appends nor cleans it up (leak)", in->name);
        }
        return;
    }
    if (ret == -1) {
        hlog(LVL_ERROR, "[host] %s: collect callback returned -1 with %zu bytes "
             "(not appended, not cleaned up)", in->name, len);
        return;
    }
    if (!data) {
        hlog(LVL_ERROR, "[host] %s: collect callback returned len=%zu with a NULL "
             "buffer", in->name, len);
        fatal_invalid(in, "NULL buffer with a non-zero length");
    }

    n = decode_buffer(data, len, in->index, &recv, opt.quiet ? NULL : &out,
                      why, sizeof(why));
    if (n < 0) {
        fatal_invalid(in, why);
    }

    /* flb_input_log_append: a threaded input's hand-over is copied into
     * its ring buffer, then the plugin's buffer is cleaned up. */
    int reached = ring_push(in, &out, n, data, len);

    /* Cleanup after the append, as the proxy does. */
    if (pl->cb_cleanup_ctx) {
        ret = pl->cb_cleanup_ctx(in->ctx->remote_context, data);
    }
    else if (pl->cb_cleanup) {
        ret = pl->cb_cleanup(data);
    }
    else {
        free(data);
        ret = 0;
    }
    if (ret == -1) {
        hlog(LVL_ERROR, "[host] %s: cleanup callback returned -1", in->name);
    }

    if (reached) {
        notify_main(PIPE_MAX_RECORDS);
    }
}

/* Starts or stops a collector (flb_input_collector_pause/resume). A resumed
 * time collector gets a new timer, so the next tick is one interval away.
 * Stopping waits for a tick in progress on that instance, so that once
 * "host: pause" is printed no more records come from the stopped collector
 * (never waits on itself: the caller is not inside a tick). */
static void collector_set(struct inst *t, int active)
{
    pthread_mutex_lock(&t->mu);
    if (active && !t->coll_active) {
        mono_now(&t->next_tick);
        ts_add_ms(&t->next_tick, opt.tick_ms);
    }
    t->coll_active = active;
    pthread_cond_signal(&t->wake);
    while (!active && t->in_tick) {
        pthread_cond_wait(&t->done, &t->mu);
    }
    pthread_mutex_unlock(&t->mu);
}

static void post_cmd(struct inst *in, enum cmd cmd, int arg);

/* Other inputs' threads keep collecting while one exits. Between its
 * pre-exit and its exit, each other running collector ticks once, so that
 * interleaving happens on every run instead of by chance. */
static void tick_others(struct inst *in)
{
    struct gen *g = in->gen;
    int i, running;

    for (i = 0; i < g->ninst; i++) {
        struct inst *o = &g->insts[i];
        if (o == in) {
            continue;
        }
        pthread_mutex_lock(&o->mu);
        running = o->ticking && o->coll_active;
        pthread_mutex_unlock(&o->mu);
        if (running) {
            hlog(LVL_DEBUG, "[host] %s: collect of %s between its pre-exit and exit",
                 in->name, o->name);
            post_cmd(o, CMD_TICK, 0);
        }
    }
}

/* Runs a command on the instance's own thread. */
static void run_cmd(struct inst *in, enum cmd cmd, int arg)
{
    struct gen *g = in->gen;
    void (*fv)(void);
    void (*fi)(int);
    int (*fr)(int);

    switch (cmd) {
    case CMD_PRERUN:
        fr = (int (*)(int)) sym(g->dso, "FLBPluginInputPreRun");
        if (fr) {
            hlog(LVL_DEBUG, "[host] %s: FLBPluginInputPreRun(%d)", in->name, arg);
            int r = fr(arg);
            hlog(LVL_DEBUG, "[host] %s: FLBPluginInputPreRun returned %d", in->name, r);
        }
        pthread_mutex_lock(&in->mu);
        in->ticking = 1;
        in->coll_active = 1;
        mono_now(&in->next_tick);
        ts_add_ms(&in->next_tick, opt.tick_ms);
        pthread_mutex_unlock(&in->mu);
        break;

    case CMD_PAUSE:
        if (arg == PAUSE_LIMIT) {
            pthread_mutex_lock(&in->ring_mu);
            in->sig_hold = 1;
            pthread_mutex_unlock(&in->ring_mu);
        }
        if (in->paused) {               /* Fluent Bit pauses once per overlimit */
            hlog(LVL_DEBUG, "[host] %s: already paused", in->name);
            break;
        }
        fv = (void (*)(void)) sym(g->dso, "FLBPluginInputPause");
        if (fv) {
            hlog(LVL_DEBUG, "[host] %s: FLBPluginInputPause()", in->name);
            fv();
        }
        in->paused = 1;
        /* The proxy stops the collector of proxy->instance, i.e. the
         * last-initialised instance, whichever instance is paused. */
        if (g->last_init) {
            hlog(LVL_DEBUG, "[host] %s: collector of %s stopped", in->name,
                 g->last_init->name);
            collector_set(g->last_init, 0);
        }
        break;

    case CMD_RESUME: {
        int held;

        /* flb_input_chunk_set_limits resumes only once no limit holds it. */
        pthread_mutex_lock(&in->ring_mu);
        if (arg == PAUSE_LIMIT) {
            in->sig_hold = 0;
        }
        held = ring_held(in);
        pthread_mutex_unlock(&in->ring_mu);
        if (held) {
            hlog(LVL_DEBUG, "[host] %s: still over a limit, not resumed", in->name);
            break;
        }
        ring_release(in);
        if (!in->paused) {
            hlog(LVL_DEBUG, "[host] %s: not paused", in->name);
            break;
        }
        fv = (void (*)(void)) sym(g->dso, "FLBPluginInputResume");
        if (fv) {
            hlog(LVL_DEBUG, "[host] %s: FLBPluginInputResume()", in->name);
            fv();
        }
        in->paused = 0;
        if (g->last_init) {
            hlog(LVL_DEBUG, "[host] %s: collector of %s restarted", in->name,
                 g->last_init->name);
            collector_set(g->last_init, 1);
        }
        break;
    }

    case CMD_TICK:
        do_tick(in);
        break;

    case CMD_EXIT:
        pthread_mutex_lock(&in->mu);
        in->ticking = 0;
        pthread_mutex_unlock(&in->mu);
        fi = (void (*)(int)) sym(g->dso, "FLBPluginInputPreExit");
        if (fi) {
            hlog(LVL_DEBUG, "[host] %s: FLBPluginInputPreExit(%d)", in->name, arg);
            fi(arg);
        }
        tick_others(in);
        if (g->plugin->cb_exit) {
            hlog(LVL_DEBUG, "[host] %s: FLBPluginExit()", in->name);
            g->plugin->cb_exit();
        }
        ring_discard(in);
        break;

    case CMD_NONE:
        break;
    }
}

static void *inst_thread(void *arg)
{
    struct inst *in = arg;
    struct gen *g = in->gen;
    int ret;

    t_fluent_bit_thread = 1;

    /* Init: the shared plugin struct is rewritten for every instance, so
     * the pointer identifies the .so, not the instance. */
    pthread_mutex_lock(&g_init_mu);
    g->plugin->api = g->api;
    g->plugin->i_ins = in;
    g->plugin->context = in->ctx;
    g->last_init = in;
    hlog(LVL_DEBUG, "[host] %s: FLBPluginInit()", in->name);
    ret = g->plugin->cb_init(g->plugin);
    pthread_mutex_unlock(&g_init_mu);

    pthread_mutex_lock(&in->mu);
    in->init_ret = ret;
    in->init_done = 1;
    pthread_cond_broadcast(&in->done);
    pthread_mutex_unlock(&in->mu);
    if (ret != FLB_OK) {
        return NULL;
    }

    for (;;) {
        enum cmd cmd;
        int carg;
        unsigned mem;

        pthread_mutex_lock(&in->mu);
        for (;;) {
            struct timespec now;
            if (in->cmd != CMD_NONE || in->mem_req != in->mem_done) {
                break;
            }
            if (in->ticking && in->coll_active) {
                mono_now(&now);
                if (!ts_before(&now, &in->next_tick)) {
                    break;
                }
                pthread_cond_timedwait(&in->wake, &in->mu, &in->next_tick);
            }
            else {
                pthread_cond_wait(&in->wake, &in->mu);
            }
        }
        cmd = in->cmd;
        carg = in->cmd_arg;
        mem = in->mem_done;
        if (cmd == CMD_NONE && in->mem_req != mem) {
            /* The engine's mem_buf_limit pause or resume, in the order asked. */
            pthread_mutex_unlock(&in->mu);
            run_cmd(in, mem % 2 == 0 ? CMD_PAUSE : CMD_RESUME, PAUSE_MEM);
            pthread_mutex_lock(&in->mu);
            in->mem_done = mem + 1;
            pthread_mutex_unlock(&in->mu);
            continue;
        }
        if (cmd == CMD_NONE) {
            in->in_tick = 1;
        }
        pthread_mutex_unlock(&in->mu);

        if (cmd == CMD_NONE) {
            struct timespec now;
            do_tick(in);
            /* Periodic timer: stay on the grid; after a slow callback fire
             * once right away, like an expired timerfd. */
            pthread_mutex_lock(&in->mu);
            in->in_tick = 0;
            pthread_cond_broadcast(&in->done);
            mono_now(&now);
            ts_add_ms(&in->next_tick, opt.tick_ms);
            if (ts_before(&in->next_tick, &now)) {
                in->next_tick = now;
            }
            pthread_mutex_unlock(&in->mu);
            continue;
        }

        run_cmd(in, cmd, carg);
        pthread_mutex_lock(&in->mu);
        in->cmd = CMD_NONE;
        in->cmd_done = 1;
        pthread_cond_broadcast(&in->done);
        pthread_mutex_unlock(&in->mu);
        if (cmd == CMD_EXIT) {
            break;
        }
    }
    return NULL;
}

/* Posts a command to an instance thread and waits until it has run. */
static void post_cmd(struct inst *in, enum cmd cmd, int arg)
{
    pthread_mutex_lock(&in->mu);
    in->cmd = cmd;
    in->cmd_arg = arg;
    in->cmd_done = 0;
    pthread_cond_signal(&in->wake);
    while (!in->cmd_done) {
        pthread_cond_wait(&in->done, &in->mu);
    }
    pthread_mutex_unlock(&in->mu);
}

/* ------------------------------------------------------------------------
 * The engine (Fluent Bit's main thread, here the host's): moves ring
 * buffer copies into memory chunks, checks mem_buf_limit, and releases the
 * chunks at each flush, as the null output does right after its flush.
 * ------------------------------------------------------------------------ */

/* Asks the instance's thread for the next mem_buf_limit pause or resume
 * (flb_input_pause/flb_input_resume of a threaded input: a message to its
 * thread, not waited for). */
static void mem_request(struct inst *in)
{
    pthread_mutex_lock(&in->mu);
    in->mem_req++;
    pthread_cond_signal(&in->wake);
    pthread_mutex_unlock(&in->mu);
}

/* input_chunk_get + cio_memfs_write: appends to the open chunk, or to a new
 * one of 256 KB; grows it 8 pages at a time; locks it past 2,048,000 bytes
 * so the next append opens a new chunk. */
static void chunk_append(struct inst *in, const char *buf, size_t len)
{
    static size_t step;
    struct chunk *c = in->cur;

    if (!step) {
        step = (size_t) sysconf(_SC_PAGESIZE) * CHUNK_REALLOC_PAGES;
    }
    if (!c) {
        c = xcalloc(1, sizeof(*c));
        c->buf = malloc(CHUNK_SIZE_HINT);
        if (!c->buf) {
            hostmsg("host: out of memory");
            _exit(EXIT_USAGE);
        }
        c->size = CHUNK_SIZE_HINT;
        if (in->chunks_tail) {
            in->chunks_tail->next = c;
        }
        else {
            in->chunks = c;
        }
        in->chunks_tail = c;
        in->cur = c;
    }
    if (c->size - c->len < len) {
        size_t size = c->size + step;
        char *p;
        while (size < c->len + len) {
            size += step;
        }
        p = realloc(c->buf, size);
        if (!p) {
            hostmsg("host: out of memory");
            _exit(EXIT_USAGE);
        }
        c->buf = p;
        c->size = size;
    }
    memcpy(c->buf + c->len, buf, len);
    c->len += len;
    in->chunk_bytes += len;
    if (c->len > CHUNK_MAX_SIZE) {
        in->cur = NULL;
    }
    if (in->chunk_bytes > g_peak_chunk_bytes[in->index]) {
        g_peak_chunk_bytes[in->index] = in->chunk_bytes;
    }
}

/* Destroys every chunk of the instance (flb_input_chunk_destroy). */
static void chunks_free(struct inst *in)
{
    struct chunk *c, *next;

    for (c = in->chunks; c; c = next) {
        next = c->next;
        free(c->buf);
        free(c);
    }
    in->chunks = in->chunks_tail = in->cur = NULL;
    in->chunk_bytes = 0;
}

/* flb_input_chunk_ring_buffer_collector: every 250 ms, or when a ring
 * passes its window, each input's ring is drained into its chunks, unless
 * the input is paused over a limit; flb_input_chunk_protect checks
 * mem_buf_limit after each append (so one hand-over may go far past it). */
static void engine_collect(struct gen *g)
{
    int i, reached = 0;

    for (i = 0; i < g->ninst; i++) {
        struct inst *in = &g->insts[i];
        size_t limit = in->cfg->mem_buf_limit;

        for (;;) {
            struct held h;

            pthread_mutex_lock(&in->ring_mu);
            if (ring_held(in) || in->ring_len == 0) {
                in->ring_signalled = 0;     /* flb_ring_buffer_mark_flushed */
                pthread_mutex_unlock(&in->ring_mu);
                break;
            }
            h = in->ring[in->ring_head];
            in->ring_head = (in->ring_head + 1) % in->cfg->ring_capacity;
            in->ring_len--;
            if (h.pending) {            /* held until now: counted at its append */
                reached |= emit(h.json, h.json_len, h.records, h.bytes);
                free(h.json);
            }
            pthread_mutex_unlock(&in->ring_mu);

            chunk_append(in, h.raw, h.bytes);
            free(h.raw);                /* destroy_chunk_raw */

            if (limit > 0 && in->chunk_bytes >= limit) {
                hlog(LVL_WARN, "[input] %s paused (mem buf overlimit - event of size %zuB "
                     "exceeded limit %zu to %zuB)", in->name, h.bytes, limit,
                     in->chunk_bytes);
                pthread_mutex_lock(&in->ring_mu);
                in->mem_hold = 1;
                pthread_mutex_unlock(&in->ring_mu);
                mem_request(in);
            }
        }
    }
    if (reached) {
        notify_main(PIPE_MAX_RECORDS);
    }
}

/* flb_engine_flush every `flush` seconds: with the null output every chunk
 * is flushed and destroyed at once; flb_task_destroy then calls
 * flb_input_chunk_set_limits, which resumes an input that is below its
 * mem_buf_limit again. */
static void engine_flush(struct gen *g)
{
    int i;

    for (i = 0; i < g->ninst; i++) {
        struct inst *in = &g->insts[i];
        int resume;

        if (in->chunks) {
            hlog(LVL_TRACE, "[host] %s: flush of %zu chunk bytes", in->name, in->chunk_bytes);
        }
        chunks_free(in);
        pthread_mutex_lock(&in->ring_mu);
        resume = in->mem_hold;
        in->mem_hold = 0;
        pthread_mutex_unlock(&in->ring_mu);
        if (resume) {
            hlog(LVL_INFO, "[input] %s resume (mem buf overlimit - buf size %zuB now "
                 "below limit %zuB)", in->name, in->chunk_bytes, in->cfg->mem_buf_limit);
            mem_request(in);
        }
    }
}

/* ------------------------------------------------------------------------
 * Config map: def->config_map checked and printed as Fluent Bit 5.1 does
 * (src/flb_input.c flb_input_set_property + flb_input_plugin_property_check,
 * src/flb_config_map.c, src/flb_help.c, src/fluent-bit.c help_format_text).
 * Fluent Bit checks names and counts only; values are the plugin's job.
 * ------------------------------------------------------------------------ */
static int g_plugin_help;       /* -h after -i: print the plugin's keys */

/* flb_input_set_property: the keys Fluent Bit takes for itself never reach
 * the instance's property list, hence never the config map check. Most of
 * them only with a value: an empty one falls through to the check. */
static int fb_takes_key(const char *k, const char *v)
{
    static const struct { const char *name; int any_value; } exact[] = {
        { "tag", 0 }, { "log_level", 0 }, { "log_suppress_interval", 0 },
        { "routable", 0 }, { "alias", 0 }, { "mem_buf_limit", 0 },
        { "listen", 1 }, { "host", 1 }, { "port", 1 }, { "ipv6", 0 },
        { "tls", 0 }, { "tls.verify", 0 }, { "tls.verify_client_cert", 0 },
        { "tls.verify_hostname", 0 }, { "tls.debug", 0 }, { "tls.vhost", 1 },
        { "tls.ca_path", 1 }, { "tls.ca_file", 1 }, { "tls.crt_file", 1 },
        { "tls.key_file", 1 }, { "tls.key_passwd", 1 }, { "tls.min_version", 1 },
        { "tls.max_version", 1 }, { "tls.ciphers", 1 }, { "storage.type", 0 },
        { "threaded", 0 }, { "thread.ring_buffer.capacity", 0 },
        { "thread.ring_buffer.window", 0 }, { "rate_window", 0 },
        { "rate_gate", 0 }, { "rate_gate.max_bytes", 0 },
        { "rate_gate.max_records", 0 }, { "rate_gate.backpressure", 0 },
        { "rate_gate.resume_ratio", 0 },
        { "storage.pause_on_chunks_overlimit", 0 }, { NULL, 0 }
    };
    int has_value = v && *v;
    int i;

    for (i = 0; exact[i].name; i++) {
        if (strcasecmp(k, exact[i].name) == 0) {
            return has_value || exact[i].any_value;
        }
    }
    return has_value && (strncasecmp(k, "net.", 4) == 0 || strncasecmp(k, "oauth2", 6) == 0);
}

/* flb_utils_bool */
static int fb_bool(const char *s)
{
    if (strcasecmp(s, "true") == 0 || strcasecmp(s, "on") == 0 || strcasecmp(s, "yes") == 0) {
        return 1;
    }
    if (strcasecmp(s, "false") == 0 || strcasecmp(s, "off") == 0 || strcasecmp(s, "no") == 0) {
        return 0;
    }
    return -1;
}

/* flb_config_map_create, as far as it can fail on a plugin's map. */
static int config_map_load(const struct flb_config_map *map, const char *plugin)
{
    const struct flb_config_map *m;

    for (m = map; m->name; m++) {
        if ((m->type == FLB_CONFIG_MAP_BOOL && m->def_value && fb_bool(m->def_value) < 0) ||
            (m->type == FLB_CONFIG_MAP_STR_PREFIX && m->def_value)) {
            hlog(LVL_ERROR, "[config map] invalid default value for %s '%s=%s'",
                 m->type == FLB_CONFIG_MAP_BOOL ? "boolean" : "prefixed string",
                 m->name, m->def_value);
            hlog(LVL_ERROR, "[input] error loading config map for '%s' plugin", plugin);
            return -1;
        }
    }
    return 0;
}

/* flb_config_map_properties_check on one instance, before its Init. */
static int config_map_check(const struct gen *g, const struct inst_cfg *cfg)
{
    const struct flb_config_map *map = g->def->config_map;
    const struct flb_config_map *m;
    const char *plugin = g->def->name;
    int i, j, count;

    if (!map) {
        return 0;               /* without a map Fluent Bit checks nothing */
    }
    if (config_map_load(map, plugin) != 0) {
        return -1;
    }
    for (i = 0; i < cfg->nprops; i++) {
        const char *k = cfg->props[i].key;

        if (fb_takes_key(k, cfg->props[i].val) ||
            strcasecmp(k, "active") == 0 || strcasecmp(k, "condition") == 0) {
            continue;
        }
        for (m = map; m->name; m++) {
            size_t len = strlen(m->name);
            if (m->type == FLB_CONFIG_MAP_STR_PREFIX ?
                strncasecmp(k, m->name, len) == 0 && strlen(k) > len :
                strcasecmp(k, m->name) == 0) {
                break;
            }
        }
        if (!m->name) {
            struct sbuf b = { NULL, 0, 0 };
            int n = 0;

            for (m = map; m->name; m++) {
                n++;
            }
            sb_puts(&b, "The following properties are allowed: ");
            for (m = map; m->name; m++) {
                sb_printf(&b, m[1].name ? "%s, " : n == 1 ? "%s." : "and %s.", m->name);
            }
            sb_put(&b, "", 1);
            hlog(LVL_ERROR, "[config] %s: unknown configuration property '%s'. %s",
                 plugin, k, b.p);
            free(b.p);
            hostmsg("[help] try the command: fbhost -e %s -i %s -h", opt.so_path, plugin);
            return -1;
        }
        /* property_count compares keys case-sensitively */
        for (count = 0, j = 0; j < cfg->nprops; j++) {
            if (strcmp(cfg->props[j].key, k) == 0 && !fb_takes_key(k, cfg->props[j].val)) {
                count++;
            }
        }
        if (count > 1 && !(m->flags & FLB_CONFIG_MAP_MULT)) {
            hlog(LVL_ERROR, "[config] %s: configuration property '%s' is set %i times",
                 plugin, k, count);
            hostmsg("[help] try the command: fbhost -e %s -i %s -h", opt.so_path, plugin);
            return -1;
        }
    }
    return 0;
}

static const char *config_map_type_name(int type, char *tmp, size_t n)
{
    switch (type) {
    case FLB_CONFIG_MAP_STR:        return "string";
    case FLB_CONFIG_MAP_STR_PREFIX: return "prefixed string";
    case FLB_CONFIG_MAP_INT:        return "integer";
    case FLB_CONFIG_MAP_BOOL:       return "boolean";
    case FLB_CONFIG_MAP_DOUBLE:     return "double";
    case FLB_CONFIG_MAP_SIZE:       return "size";
    case FLB_CONFIG_MAP_TIME:       return "time";
    case FLB_CONFIG_MAP_DEPRECATED: return "deprecated";
    case FLB_CONFIG_MAP_VARIANT:    return "variant";
    }
    if (type == FLB_CONFIG_MAP_CLIST || type == FLB_CONFIG_MAP_SLIST) {
        return type == FLB_CONFIG_MAP_CLIST ? "multiple comma delimited strings" :
                                              "multiple space delimited strings";
    }
    if ((type > FLB_CONFIG_MAP_CLIST && type <= FLB_CONFIG_MAP_CLIST + 4) ||
        (type > FLB_CONFIG_MAP_SLIST && type <= FLB_CONFIG_MAP_SLIST + 4)) {
        snprintf(tmp, n, "%s delimited strings (minimum %i)",
                 type < FLB_CONFIG_MAP_SLIST ? "comma" : "space",
                 type < FLB_CONFIG_MAP_SLIST ? type - FLB_CONFIG_MAP_CLIST : type - FLB_CONFIG_MAP_SLIST);
        return tmp;
    }
    return NULL;
}

/* fluent-bit.c help_plugin_description: wraps at 90 columns. */
static void help_description(int pad, const char *s)
{
    const char *p = s, *end = s + strlen(s), *c;
    int max = 90 - pad, line = 0, len;

    if ((int) strlen(s) <= max) {
        printf("%s\n", s);
        return;
    }
    while (p < end) {
        if (p + max > end) {
            c = end;
        }
        else {
            for (c = p + max; *c != ' ' && c > p; c--) {
            }
        }
        len = (int) (c == p ? end - p : c - p);
        printf("%*s%.*s\n", line ? pad : 0, line ? " " : "", len, p);
        line++;
        p += len + 1;
    }
}

/* `fluent-bit -e x.so -i NAME -h`: help_format_text for the plugin's own
 * options (the GLOBAL_OPTIONS of every input are Fluent Bit's, left out;
 * no ANSI bold). Fluent Bit exits 0, or 1 on a type it cannot name. */
static int plugin_help(const struct gen *g)
{
    const struct flb_config_map *m;
    char tmp[64];
    /* Fluent Bit pads to the longest name of GLOBAL_OPTIONS too. */
    int max = (int) strlen("storage.pause_on_chunks_overlimit");

    printf("HELP\n%s input plugin\n\nDESCRIPTION\n%s\n",
           g->def->name, g->def->description ? g->def->description : "");
    if (!g->def->config_map) {
        return EXIT_OK;
    }
    if (config_map_load(g->def->config_map, g->def->name) != 0) {
        return EXIT_INIT;
    }
    for (m = g->def->config_map; m->name; m++) {
        if ((int) strlen(m->name) > max) {
            max = (int) strlen(m->name);
        }
    }
    max += 2;
    printf("\nOPTIONS\n");
    for (m = g->def->config_map; m->name; m++) {
        const char *type = config_map_type_name(m->type, tmp, sizeof(tmp));
        if (!type) {
            fflush(stdout);
            fprintf(stderr, "[help] invalid config map type %i\n", m->type);
            return EXIT_INIT;
        }
        printf("%-*s", max, m->name);
        help_description(max, m->desc ? m->desc : "");
        /* Fluent Bit 5.1 prints "default" for an entry without one. */
        printf("%*s> default: %s, type: %s\n\n", max, " ",
               m->def_value ? m->def_value : "default", type);
    }
    fflush(stdout);
    return EXIT_OK;
}

/* ------------------------------------------------------------------------
 * Load / register, start / stop, pause / resume, reload
 * ------------------------------------------------------------------------ */

/* flb_plugin_proxy_register + proxy_go_input_register. NULL on failure. */
static struct gen *load_gen(int hot_reloading)
{
    struct gen *g;
    int (*pre)(int);
    int (*reg)(struct flb_plugin_proxy_def *);
    struct flbgo_input_plugin *pl;
    struct flb_api *api;
    void *dso;
    int ret;

    dso = dlopen(opt.so_path, RTLD_LAZY);
    if (!dso) {
        hostmsg("host: dlopen %s: %s", opt.so_path, dlerror());
        return NULL;
    }
    g = xcalloc(1, sizeof(*g));
    g->dso = dso;

    pre = (int (*)(int)) sym(dso, "FLBPluginPreRegister");
    if (pre) {
        hlog(LVL_DEBUG, "[host] FLBPluginPreRegister(%d)", hot_reloading);
        if (pre(hot_reloading) == -1) {
            hostmsg("host: FLBPluginPreRegister(%d) returned -1", hot_reloading);
            goto fail;
        }
    }
    reg = (int (*)(struct flb_plugin_proxy_def *)) sym(dso, "FLBPluginRegister");
    if (!reg) {
        hostmsg("host: %s does not export FLBPluginRegister", opt.so_path);
        goto fail;
    }
    g->def = xcalloc(1, sizeof(*g->def));
    ret = reg(g->def);
    if (ret == -1) {
        hostmsg("host: FLBPluginRegister returned -1");
        goto fail;
    }
    if (g->def->type != FLB_PROXY_INPUT_PLUGIN || g->def->proxy != FLB_PROXY_GOLANG ||
        !g->def->name) {
        hostmsg("host: FLBPluginRegister set type=%d proxy=%d name=%s (need an "
                "input (1) Go (11) plugin with a name)", g->def->type,
                g->def->proxy, g->def->name ? g->def->name : "(null)");
        goto fail;
    }

    pl = xcalloc(1, sizeof(*pl));
    g->plugin = pl;
    pl->name = strdup(g->def->name);
    pl->cb_init = (int (*)(struct flbgo_input_plugin *)) sym(dso, "FLBPluginInit");
    if (!pl->cb_init) {
        hostmsg("host: could not load FLBPluginInit symbol");
        goto fail;
    }
    pl->cb_collect = (int (*)(void **, size_t *)) sym(dso, "FLBPluginInputCallback");
    pl->cb_cleanup = (int (*)(void *)) sym(dso, "FLBPluginInputCleanupCallback");
    if (!opt.legacy) {
        /* The *Ctx callbacks exist from Fluent Bit 4.1.0 on. */
        pl->cb_collect_ctx = (int (*)(void *, void **, size_t *))
                             sym(dso, "FLBPluginInputCallbackCtx");
        pl->cb_cleanup_ctx = (int (*)(void *, void *))
                             sym(dso, "FLBPluginInputCleanupCallbackCtx");
    }
    pl->cb_exit = (int (*)()) sym(dso, "FLBPluginExit");
    if (!pl->cb_collect && !pl->cb_collect_ctx) {
        /* Fluent Bit would call a NULL pointer on the first tick. */
        hostmsg("host: the plugin exports no %s", opt.legacy ?
                "FLBPluginInputCallback (needed with -n)" :
                "FLBPluginInputCallback or FLBPluginInputCallbackCtx");
        goto fail;
    }

    api = xcalloc(1, sizeof(*api));
    api->output_get_property = api_null_property;
    api->input_get_property = api_input_get_property;
    api->output_get_cmt_instance = api_null_cmt;
    api->input_get_cmt_instance = api_null_cmt;
    api->log_print = api_log_print;
    api->input_log_check = api_input_log_check;
    api->output_log_check = api_no_log;
    api->custom_get_property = api_null_property;
    api->custom_log_check = api_no_log;
    g->api = api;

    hostmsg("host: registered plugin %s", g->def->name);
    return g;

fail:
    if (g->plugin) {
        free(g->plugin->name);
        free(g->plugin);
    }
    free(g->def);
    free(g);
    dlclose(dso);
    return NULL;
}

static void free_gen(struct gen *g)
{
    int i;

    if (g->insts) {
        for (i = 0; i < ncfg; i++) {
            free(g->insts[i].ctx);
            chunks_free(&g->insts[i]);
            pthread_mutex_destroy(&g->insts[i].mu);
            pthread_mutex_destroy(&g->insts[i].ring_mu);
            pthread_cond_destroy(&g->insts[i].wake);
            pthread_cond_destroy(&g->insts[i].done);
        }
        free(g->insts);
    }
    free(g->api);
    free(g->plugin->name);
    free(g->plugin);
    free(g->def);
    free(g);
}

/* Creates and inits every instance in order, then PreRun. On an Init
 * failure returns -1 with g->ninst = instances that did init. */
static int start_instances(struct gen *g, int hot)
{
    pthread_condattr_t ca;
    int i;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    g->insts = xcalloc((size_t) ncfg, sizeof(*g->insts));
    g->ninst = 0;
    for (i = 0; i < ncfg; i++) {
        struct inst *in = &g->insts[i];
        in->index = i;
        in->cfg = &cfgs[i];
        in->gen = g;
        if (cfgs[i].name) {
            snprintf(in->name, sizeof(in->name), "%s", cfgs[i].name);
        }
        else {
            snprintf(in->name, sizeof(in->name), "%s.%d", g->def->name, i);
        }
        pthread_mutex_init(&in->mu, NULL);
        pthread_mutex_init(&in->ring_mu, NULL);
        pthread_cond_init(&in->wake, &ca);
        pthread_cond_init(&in->done, &ca);
        in->ctx = xcalloc(1, sizeof(*in->ctx));
        in->ctx->coll_fd = i;
        in->ctx->remote_context = NULL;
        in->ctx->proxy = NULL;
    }
    pthread_condattr_destroy(&ca);

    for (i = 0; i < ncfg; i++) {
        struct inst *in = &g->insts[i];
        int ret;

        if (config_map_check(g, in->cfg) != 0) {
            hlog(LVL_ERROR, "[engine] input initialization failed");
            return -1;
        }
        if (pthread_create(&in->tid, NULL, inst_thread, in) != 0) {
            hostmsg("host: pthread_create failed");
            _exit(EXIT_USAGE);
        }
        /* Wait for this Init before starting the next one. */
        pthread_mutex_lock(&in->mu);
        while (!in->init_done) {
            pthread_cond_wait(&in->done, &in->mu);
        }
        ret = in->init_ret;
        pthread_mutex_unlock(&in->mu);
        if (ret != FLB_OK) {
            hostmsg("host: instance %d init failed (returned %d)", i, ret);
            pthread_join(in->tid, NULL);
            return -1;
        }
        g->ninst = i + 1;
    }
    /* flb_engine_start arms the flush timer before it starts the
     * collectors: each flush comes just before a collect. */
    mono_now(&g_flush_origin);
    for (i = 0; i < g->ninst; i++) {
        post_cmd(&g->insts[i], CMD_PRERUN, hot);
    }
    for (i = 0; i < g->ninst; i++) {
        hostmsg("host: instance %d running", i);
    }
    return 0;
}

/* Stops the instances of a generation (flb_input_exit_all + destroy). */
static void stop_instances(struct gen *g, int hot)
{
    void (*unreg)(struct flb_plugin_proxy_def *);
    int i;

    if (opt.shutdown_pause) {
        /* -S: flb_engine_shutdown pauses every input before exiting it. */
        for (i = 0; i < g->ninst; i++) {
            post_cmd(&g->insts[i], CMD_PAUSE, PAUSE_SHUTDOWN);
        }
    }
    /* flb_input_exit_all: the last input first, one after the other. */
    for (i = g->ninst - 1; i >= 0; i--) {
        post_cmd(&g->insts[i], CMD_EXIT, hot);
    }
    for (i = 0; i < g->ninst; i++) {
        pthread_join(g->insts[i].tid, NULL);
        chunks_free(&g->insts[i]);      /* destroyed with the instance */
    }
    unreg = (void (*)(struct flb_plugin_proxy_def *)) sym(g->dso, "FLBPluginUnregister");
    if (unreg) {
        hlog(LVL_DEBUG, "[host] FLBPluginUnregister()");
        unreg(g->def);
    }
    g->ninst = 0;
}

static void pause_resume(struct gen *g, int pause)
{
    enum cmd cmd = pause ? CMD_PAUSE : CMD_RESUME;
    int i;

    /* A signalled pause is an input over its mem_buf_limit. */
    if (opt.pause_only >= 0) {
        post_cmd(&g->insts[opt.pause_only], cmd, PAUSE_LIMIT);
    }
    else {
        for (i = 0; i < g->ninst; i++) {
            post_cmd(&g->insts[i], cmd, PAUSE_LIMIT);
        }
    }
}

static void print_counters(void)
{
    int i;

    pthread_mutex_lock(&g_out_mu);
    hlog(LVL_DEBUG, "[host] ticks with data: %llu", g_ticks);
    hostmsg("host: records=%llu bytes=%llu", g_records, g_bytes);
    hostmsg("host: records dropped from ring buffers=%llu", g_ring_dropped);
    pthread_mutex_unlock(&g_out_mu);
    for (i = 0; i < ncfg; i++) {
        if (cfgs[i].mem_buf_limit) {
            hostmsg("host: peak chunk bytes=%zu (instance %d, mem_buf_limit=%zu)",
                    g_peak_chunk_bytes[i], i, cfgs[i].mem_buf_limit);
        }
        else {
            hostmsg("host: peak chunk bytes=%zu (instance %d)", g_peak_chunk_bytes[i], i);
        }
    }
    hostmsg("host: log_print calls outside Fluent Bit's threads=%llu",
            __atomic_load_n(&g_foreign_logs, __ATOMIC_RELAXED));
}

/* Hot reload: returns 0 on success or when the old config keeps running,
 * -1 when a new instance failed to init (*pg then holds the new gen). */
static int do_reload(struct gen **pg, int n)
{
    struct gen *old = *pg;
    struct gen *ng;

    /* Register again while the old instances still run. dlopen of the same
     * path returns the same handle: Go globals survive. */
    ng = load_gen(1);
    if (!ng) {
        hostmsg("host: reload %d failed, old instances keep running", n);
        return 0;
    }
    stop_instances(old, 1);
    dlclose(old->dso);              /* drops the extra reference only */
    free_gen(old);
    *pg = ng;
    if (start_instances(ng, 1) != 0) {
        return -1;
    }
    hostmsg("host: reload %d done", n);
    return 0;
}

/* ------------------------------------------------------------------------
 * Signals: the handler only writes the signal number to a pipe; the main
 * thread does the work. sigwait would not do: the Go runtime's threads do
 * not block these signals, so any thread may take them.
 * ------------------------------------------------------------------------ */
static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char) sig;
    ssize_t r = write(g_pipe[1], &b, 1);

    (void) r;
    errno = saved;
}

static void setup_signals(void)
{
    struct sigaction sa;
    int i;

    if (pipe2(g_pipe, O_CLOEXEC) != 0) {
        hostmsg("host: pipe: %s", strerror(errno));
        exit(EXIT_USAGE);
    }
    fcntl(g_pipe[1], F_SETFL, fcntl(g_pipe[1], F_GETFL) | O_NONBLOCK);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* SA_ONSTACK: the signal may land on a Go thread, whose own stack is
     * too small for a C handler (Go's cgo rules require it). */
    sa.sa_flags = SA_RESTART | SA_ONSTACK;
    for (i = 0; i < NSIGNALS; i++) {
        sigaction(g_signals[i], &sa, NULL);
    }
    /* Writing records to a closed pipe should fail, not kill the host. */
    signal(SIGPIPE, SIG_IGN);
}

/* A plugin that calls signal.Notify takes these signals from the host, as
 * it would from Fluent Bit: say so once per signal. */
static void check_signal_handlers(void)
{
    struct sigaction cur;
    int i;

    for (i = 0; i < NSIGNALS; i++) {
        if (g_sig_warned[i] || sigaction(g_signals[i], NULL, &cur) != 0) {
            continue;
        }
        if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == on_signal) {
            continue;
        }
        g_sig_warned[i] = 1;
        hlog(LVL_WARN, "[host] the handler for signal %d (%s) was replaced after "
             "the plugin loaded (signal.Notify?); Fluent Bit would lose it too",
             g_signals[i], strsignal(g_signals[i]));
    }
}

/* ------------------------------------------------------------------------
 * Command line
 * ------------------------------------------------------------------------ */
static void usage(FILE *f)
{
    fprintf(f,
        "usage: fbhost -e PATH.so [-T tick_ms] [-f SECONDS] [-o FILE] [-L level] [-q]\n"
        "              [-m N] [-d SECONDS] [-n] [-P N] [-S]\n"
        "              [-i [NAME]] [-p key=value ...] [-i [NAME] -p ... ...]\n"
        "  -e PATH   Go input plugin (.so) to load\n"
        "  -T MS     collect interval in ms (default 1000, Fluent Bit's fixed 1 s)\n"
        "  -f S      flush interval in seconds (default 1, Fluent Bit's -f): each\n"
        "            hand-over is copied into the instance's memory chunks, kept\n"
        "            until the next flush (as with the null output)\n"
        "  -o FILE   write records there instead of stdout\n"
        "  -L LEVEL  off|error|warn|info|debug|trace for input_log_check and host\n"
        "            diagnostics (default info)\n"
        "  -q        count records, do not print them\n"
        "  -m N      run the exit sequence once N records were received\n"
        "  -d S      run the exit sequence S seconds after all instances run\n"
        "  -n        legacy: act like Fluent Bit < 4.1 (no *Ctx callbacks)\n"
        "  -P N      SIGUSR1/SIGUSR2 pause/resume only instance N\n"
        "  -S        call FLBPluginInputPause on every instance before exiting\n"
        "            (Fluent Bit's flb_engine_shutdown does; off by default)\n"
        "  -i [NAME] start a new instance; the -p that follow belong to it\n"
        "  -p K=V    property of the current instance (value may be empty);\n"
        "            log_level, mem_buf_limit and thread.ring_buffer.capacity and\n"
        "            .window are the host's: over mem_buf_limit (checked after\n"
        "            each append) the input is paused until a flush\n"
        "  -h        after -i: print the plugin's keys (its config map) and exit\n"
        "signals: USR1 pause (as over mem_buf_limit: what the paused input\n"
        "         still collects waits in its ring buffer, dropped when full),\n"
        "         USR2 resume, HUP hot reload, TERM/INT exit\n"
        "exit: 0 ok, 1 init failed, 2 usage/load error, 3 invalid record;\n"
        "      at exit it prints each instance's peak chunk bytes\n");
}

static int parse_level(const char *s)
{
    static const char *names[] = { "off", "error", "warn", "info", "debug", "trace" };
    int i;

    for (i = 0; i <= LVL_TRACE; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            return i;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        return LVL_WARN;
    }
    return -1;
}

static int parse_long(const char *s, long long min, long long *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min) {
        return -1;
    }
    *out = v;
    return 0;
}

/* flb_utils_size_to_bytes: decimal K, M, G (optionally followed by B);
 * "false" is 0; -1 when it cannot be read. */
static long long size_to_bytes(const char *s)
{
    size_t len = strlen(s), plen = 0, i;
    double val = atof(s);
    char u[3] = { 0 };

    if (strcasecmp(s, "false") == 0) {
        return 0;
    }
    if (len == 0) {
        return -1;
    }
    for (i = len - 1; i > 0 && !(s[i] >= '0' && s[i] <= '9'); i--) {
        plen++;
    }
    if (plen == 0) {
        return (long long) val;
    }
    if (plen > 2) {
        return -1;
    }
    for (i = 0; i < plen; i++) {
        u[i] = (char) toupper((unsigned char) s[len - plen + i]);
    }
    if (plen == 2 && u[1] != 'B') {
        return -1;
    }
    switch (u[0]) {
    case 'K': return val >= 9e15 ? -1 : (long long) (val * 1e3);
    case 'M': return val >= 9e12 ? -1 : (long long) (val * 1e6);
    case 'G': return val >= 9e9 ? -1 : (long long) (val * 1e9);
    default: return -1;
    }
}

static struct inst_cfg *new_cfg(const char *name)
{
    struct inst_cfg *c;

    cfgs = realloc(cfgs, sizeof(*cfgs) * (size_t) (ncfg + 1));
    if (!cfgs) {
        hostmsg("host: out of memory");
        exit(EXIT_USAGE);
    }
    c = &cfgs[ncfg++];
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->log_level = -1;
    c->ring_capacity = RING_CAPACITY_DEFAULT;
    c->ring_window = RING_WINDOW_DEFAULT;
    return c;
}

static void parse_args(int argc, char **argv)
{
    struct inst_cfg *cur = NULL;
    long long v;
    int i, j;

#define NEED_ARG() do { \
        if (i + 1 >= argc) { \
            fprintf(stderr, "fbhost: %s needs an argument\n", a); \
            usage(stderr); \
            exit(EXIT_USAGE); \
        } \
    } while (0)
#define BAD(...) do { \
        fprintf(stderr, "fbhost: " __VA_ARGS__); \
        fputc('\n', stderr); \
        exit(EXIT_USAGE); \
    } while (0)

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if ((strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) && cur) {
            g_plugin_help = 1;          /* -i ... -h: the plugin's keys */
        }
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        else if (strcmp(a, "-e") == 0) {
            NEED_ARG();
            opt.so_path = argv[++i];
        }
        else if (strcmp(a, "-T") == 0) {
            NEED_ARG();
            if (parse_long(argv[++i], 1, &v) != 0 || v > 86400000) {
                BAD("bad -T %s", argv[i]);
            }
            opt.tick_ms = (long) v;
        }
        else if (strcmp(a, "-o") == 0) {
            NEED_ARG();
            opt.out_path = argv[++i];
        }
        else if (strcmp(a, "-L") == 0) {
            NEED_ARG();
            opt.log_level = parse_level(argv[++i]);
            if (opt.log_level < 0) {
                BAD("bad -L %s", argv[i]);
            }
        }
        else if (strcmp(a, "-q") == 0) {
            opt.quiet = 1;
        }
        else if (strcmp(a, "-m") == 0) {
            NEED_ARG();
            if (parse_long(argv[++i], 1, &v) != 0) {
                BAD("bad -m %s", argv[i]);
            }
            opt.max_records = (unsigned long long) v;
        }
        else if (strcmp(a, "-d") == 0) {
            char *end;
            NEED_ARG();
            opt.duration = strtod(argv[++i], &end);
            if (end == argv[i] || *end || !(opt.duration > 0)) {
                BAD("bad -d %s", argv[i]);
            }
        }
        else if (strcmp(a, "-n") == 0) {
            opt.legacy = 1;
        }
        else if (strcmp(a, "-f") == 0) {
            char *end;
            NEED_ARG();
            opt.flush = strtod(argv[++i], &end);
            if (end == argv[i] || *end || !(opt.flush > 0) || opt.flush > 86400) {
                BAD("bad -f %s", argv[i]);
            }
        }
        else if (strcmp(a, "-S") == 0) {
            opt.shutdown_pause = 1;
        }
        else if (strcmp(a, "-P") == 0) {
            NEED_ARG();
            if (parse_long(argv[++i], 0, &v) != 0 || v > 100000) {
                BAD("bad -P %s", argv[i]);
            }
            opt.pause_only = (int) v;
        }
        else if (strcmp(a, "-i") == 0) {
            const char *name = NULL;
            if (i + 1 < argc && argv[i + 1][0] != '-') {
                name = argv[++i];
            }
            cur = new_cfg(name);
        }
        else if (strcmp(a, "-p") == 0) {
            char *kv, *eq;
            NEED_ARG();
            kv = argv[++i];
            eq = strchr(kv, '=');
            if (!eq || eq == kv) {
                BAD("bad -p %s (want key=value)", kv);
            }
            if (!cur) {
                cur = new_cfg(NULL);    /* -p before any -i: instance 0 */
            }
            *eq = '\0';                 /* split in place: argv lives forever */
            cur->props = realloc(cur->props, sizeof(*cur->props) * (size_t) (cur->nprops + 1));
            if (!cur->props) {
                BAD("out of memory");
            }
            cur->props[cur->nprops].key = kv;
            cur->props[cur->nprops].val = eq + 1;
            cur->nprops++;
        }
        else {
            fprintf(stderr, "fbhost: unknown argument %s\n", a);
            usage(stderr);
            exit(EXIT_USAGE);
        }
    }
    if (!opt.so_path) {
        fprintf(stderr, "fbhost: -e PATH.so is required\n");
        usage(stderr);
        exit(EXIT_USAGE);
    }
    if (ncfg == 0) {
        new_cfg(NULL);
    }
    if (opt.pause_only >= ncfg) {
        BAD("-P %d: there are only %d instances", opt.pause_only, ncfg);
    }
    /* log_level, mem_buf_limit and thread.ring_buffer.* are Fluent Bit's
     * own per-instance keys: the host uses them, the plugin never sees
     * them. */
    for (i = 0; i < ncfg; i++) {
        cfgs[i].log_level = opt.log_level;
        for (j = 0; j < cfgs[i].nprops; j++) {
            if (strcasecmp(cfgs[i].props[j].key, "log_level") == 0) {
                int l = parse_level(cfgs[i].props[j].val);
                if (l < 0) {
                    BAD("instance %d: bad log_level %s", i, cfgs[i].props[j].val);
                }
                cfgs[i].log_level = l;
            }
            else if (strcasecmp(cfgs[i].props[j].key, "thread.ring_buffer.capacity") == 0) {
                if (parse_long(cfgs[i].props[j].val, 1, &v) != 0 || v > 1000000) {
                    BAD("instance %d: bad thread.ring_buffer.capacity %s", i,
                        cfgs[i].props[j].val);
                }
                cfgs[i].ring_capacity = (int) v;
            }
            else if (strcasecmp(cfgs[i].props[j].key, "thread.ring_buffer.window") == 0) {
                if (parse_long(cfgs[i].props[j].val, 1, &v) != 0 || v > 100) {
                    BAD("instance %d: thread.ring_buffer.window must be between 1 and 100", i);
                }
                cfgs[i].ring_window = (int) v;
            }
            else if (strcasecmp(cfgs[i].props[j].key, "mem_buf_limit") == 0 &&
                     cfgs[i].props[j].val[0]) {
                /* flb_input_set_property: the last one wins */
                long long lim = size_to_bytes(cfgs[i].props[j].val);
                if (lim < 0) {
                    BAD("instance %d: bad mem_buf_limit %s", i, cfgs[i].props[j].val);
                }
                cfgs[i].mem_buf_limit = (size_t) lim;
            }
        }
    }
    g_peak_chunk_bytes = xcalloc((size_t) ncfg, sizeof(*g_peak_chunk_bytes));
#undef NEED_ARG
#undef BAD
}

/* ------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------ */
static int exit_sequence(struct gen *g, int status)
{
    hostmsg("host: exiting");
    stop_instances(g, 0);
    print_counters();
    hostmsg("host: exited");
    fflush(g_out);
    free_gen(g);
    return status;
}

/* Milliseconds from now to t (rounded up), at most max. */
static int ms_until(const struct timespec *t, const struct timespec *now, int max)
{
    long long ms = ((long long) (t->tv_sec - now->tv_sec) * 1000000000LL +
                    (t->tv_nsec - now->tv_nsec) + 999999) / 1000000;

    if (ms < 0) {
        ms = 0;
    }
    return ms < max ? (int) ms : max;
}

/* A periodic timer's next expiry: on its grid, missed ones coalesced. */
static void ts_advance(struct timespec *t, long ms, const struct timespec *now)
{
    do {
        ts_add_ms(t, ms);
    } while (!ts_before(now, t));
}

int main(int argc, char **argv)
{
    struct gen *g;
    struct timespec deadline, next_rb, next_flush;
    long flush_ms;
    int reloads = 0;

    parse_args(argc, argv);

    if (opt.out_path) {
        g_out = fopen(opt.out_path, "w");
        if (!g_out) {
            hostmsg("host: cannot open %s: %s", opt.out_path, strerror(errno));
            return EXIT_USAGE;
        }
    }
    else {
        g_out = stdout;
    }

    /* Before dlopen, so the Go runtime sees our handlers when it starts. */
    setup_signals();

    g = load_gen(0);
    if (!g) {
        return EXIT_USAGE;
    }
    if (g_plugin_help) {
        return plugin_help(g);
    }
    if (start_instances(g, 0) != 0) {
        return exit_sequence(g, EXIT_INIT);
    }
    check_signal_handlers();

    mono_now(&deadline);
    if (opt.duration > 0) {
        ts_add_ms(&deadline, (long) (opt.duration * 1000.0));
    }
    /* The engine's timers: ring buffer collector and flush. */
    flush_ms = (long) (opt.flush * 1000.0 + 0.5);
    if (flush_ms < 1) {
        flush_ms = 1;
    }
    mono_now(&next_rb);
    ts_add_ms(&next_rb, RING_COLLECT_MS);
    next_flush = g_flush_origin;
    ts_add_ms(&next_flush, flush_ms);

    for (;;) {
        struct pollfd pfd = { g_pipe[0], POLLIN, 0 };
        unsigned char buf[64];
        int timeout = 500;              /* also re-checks the handlers */
        struct timespec now;
        ssize_t n, k;

        mono_now(&now);
        if (!ts_before(&now, &next_rb)) {
            engine_collect(g);
            ts_advance(&next_rb, RING_COLLECT_MS, &now);
        }
        if (!ts_before(&now, &next_flush)) {
            engine_flush(g);
            ts_advance(&next_flush, flush_ms, &now);
        }
        timeout = ms_until(&next_rb, &now, timeout);
        timeout = ms_until(&next_flush, &now, timeout);

        if (opt.duration > 0) {
            long long left;
            left = (long long) (deadline.tv_sec - now.tv_sec) * 1000 +
                   (deadline.tv_nsec - now.tv_nsec) / 1000000;
            if (left <= 0) {
                hlog(LVL_DEBUG, "[host] -d %g elapsed", opt.duration);
                return exit_sequence(g, EXIT_OK);
            }
            if (left < timeout) {
                timeout = (int) left + 1;
            }
        }
        if (poll(&pfd, 1, timeout) < 0 && errno != EINTR) {
            hostmsg("host: poll: %s", strerror(errno));
            return exit_sequence(g, EXIT_OK);
        }
        check_signal_handlers();
        if (!(pfd.revents & POLLIN)) {
            continue;
        }
        n = read(g_pipe[0], buf, sizeof(buf));
        for (k = 0; k < n; k++) {
            switch (buf[k]) {
            case PIPE_MAX_RECORDS:
                hlog(LVL_DEBUG, "[host] -m %llu reached", opt.max_records);
                return exit_sequence(g, EXIT_OK);
            case PIPE_RING:
                engine_collect(g);
                break;
            case SIGUSR1:
                pause_resume(g, 1);
                hostmsg("host: pause");
                break;
            case SIGUSR2:
                pause_resume(g, 0);
                hostmsg("host: resume");
                break;
            case SIGHUP:
                if (do_reload(&g, ++reloads) != 0) {
                    return exit_sequence(g, EXIT_INIT);
                }
                /* Fluent Bit's reload starts a new engine: new timers. */
                mono_now(&next_rb);
                ts_add_ms(&next_rb, RING_COLLECT_MS);
                next_flush = g_flush_origin;
                ts_add_ms(&next_flush, flush_ms);
                check_signal_handlers();
                break;
            case SIGTERM:
            case SIGINT:
                return exit_sequence(g, EXIT_OK);
            default:
                break;
            }
        }
    }
}
