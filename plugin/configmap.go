package main

/*
#include <stdlib.h>
#include "flb_config_map.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"docker_logs/capture/config"
)

var (
	configMapOnce sync.Once
	configMapC    unsafe.Pointer
)

// configMap returns the plugin's keys as Fluent Bit's config map: an array
// of struct flb_config_map ended by a zeroed entry, for def->config_map.
// With it Fluent Bit rejects unknown keys and prints the keys for -h.
//
// It is built once per process and never freed: Fluent Bit reads it until
// the plugin is destroyed, keeps pointers to the descriptions in every
// instance's copy, and never frees it itself (flb_plugin_proxy_destroy frees
// only def). The Go runtime outlives a hot reload, so a reload's
// FLBPluginRegister gets the same array: nothing leaks, nothing dangles.
func configMap() unsafe.Pointer {
	configMapOnce.Do(func() { configMapC = buildConfigMap(config.Keys()) })
	return configMapC
}

func buildConfigMap(keys []config.Key) unsafe.Pointer {
	p := C.calloc(C.size_t(len(keys)+1), C.sizeof_struct_flb_config_map)
	entries := unsafe.Slice((*C.struct_flb_config_map)(p), len(keys)+1)
	for i, k := range keys {
		e := &entries[i]
		e._type = configMapType(k)
		e.name = C.CString(k.Name)
		if k.Default != "" {
			e.def_value = C.CString(k.Default)
		}
		e.desc = C.CString(k.Description)
		// flags 0 (one value per key), set_property 0 (Fluent Bit writes
		// into no struct of ours): the plugin reads values itself.
	}
	return p
}

func configMapType(k config.Key) C.int {
	switch k.Type {
	case config.TypeStr:
		return C.FLB_CONFIG_MAP_STR
	case config.TypeInt:
		return C.FLB_CONFIG_MAP_INT
	case config.TypeBool:
		return C.FLB_CONFIG_MAP_BOOL
	case config.TypeSize:
		return C.FLB_CONFIG_MAP_SIZE
	case config.TypeTime:
		return C.FLB_CONFIG_MAP_TIME
	case config.TypeCList:
		return C.FLB_CONFIG_MAP_CLIST
	}
	// config's tests keep this from happening; Fluent Bit's -h would exit on it.
	panic(fmt.Sprintf("config key %s: unknown type %q", k.Name, k.Type))
}
