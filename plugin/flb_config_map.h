/* struct flb_config_map of Fluent Bit 5.1 (include/fluent-bit/flb_config_map.h),
 * with its real layout: Fluent Bit walks the plugin's array of them with
 * this stride, so every field up to _head must be there. Checked against
 * the real headers: 104 bytes, desc at 40. */
#ifndef DOCKER_LOGS_FLB_CONFIG_MAP_H
#define DOCKER_LOGS_FLB_CONFIG_MAP_H

#include <stddef.h>
#include <stdint.h>

#define FLB_CONFIG_MAP_STR    0
#define FLB_CONFIG_MAP_INT    2
#define FLB_CONFIG_MAP_BOOL   3
#define FLB_CONFIG_MAP_SIZE   5
#define FLB_CONFIG_MAP_TIME   6
#define FLB_CONFIG_MAP_CLIST 30

struct flb_mk_list {
    struct flb_mk_list *prev, *next;
};

struct flb_config_map_val {
    union {
        int i_num;
        int boolean;
        double d_num;
        size_t s_num;
        char *str;
        void *list;
        void *variant;
    } val;
    char *raw;
    struct flb_mk_list *mult;
    struct flb_mk_list _head;
};

struct flb_config_map {
    int type;
    char *name;
    char *def_value;
    int flags;
    int set_property;          /* 0: Fluent Bit writes into no C struct */
    uintptr_t offset;
    char *desc;                /* Fluent Bit keeps this pointer, never a copy */
    struct flb_config_map_val value;
    struct flb_mk_list _head;
};

_Static_assert(sizeof(struct flb_config_map) == 104, "flb_config_map is 104 bytes in Fluent Bit 5.1");
_Static_assert(offsetof(struct flb_config_map, desc) == 40, "flb_config_map.desc at 40");
_Static_assert(offsetof(struct flb_config_map, _head) == 88, "flb_config_map._head at 88");

#endif
