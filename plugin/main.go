// Package main is the cgo shell of the docker_logs input: it translates
// Fluent Bit's callbacks into calls on capture.Engine and owns the C memory
// it hands over. Everything else lives in capture/.
package main

/*
#include <string.h>
#include "flb.h"
*/
import "C"

import (
	"fmt"
	"io"
	"sync"
	"time"
	"unsafe"

	"docker_logs/capture"
	"docker_logs/capture/config"
	"docker_logs/capture/metrics"
)

func main() {}

// instance is one configured docker_logs input.
type instance struct {
	name   string
	key    unsafe.Pointer // C memory: Fluent Bit's remote_context for it
	engine *capture.Engine
	docker io.Closer // its idle connections must not outlive a hot reload
	m      *metrics.Input
}

var (
	mu sync.Mutex
	// live holds the running instances by remote_context, in init order.
	live  = map[unsafe.Pointer]*instance{}
	order []*instance
	// pauses counts Pause calls not yet resumed (see FLBPluginInputPause).
	pauses int
	// carried holds, by instance name, where exited instances stopped: the
	// Go runtime outlives a hot reload, so the new instances resume there.
	carried = map[string]carriedPositions{}
)

type carriedPositions struct {
	positions map[string]capture.Position
	stopped   time.Time
}

//export FLBPluginPreRegister
func FLBPluginPreRegister(hotReloading C.int) C.int { return 0 }

//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) C.int {
	d := (*C.struct_flb_plugin_proxy_def)(def)
	d._type = C.FLB_PROXY_INPUT_PLUGIN
	d.proxy = C.FLB_PROXY_GOLANG
	d.flags = 0
	d.name = C.CString("docker_logs")
	d.description = C.CString("Docker container logs through the Docker Engine API")
	d.event_type = 0
	// A hot reload registers the new plugin before the old instances exit:
	// holding the endpoint from here keeps it up across the reload.
	metrics.Shared.Hold()
	return 0
}

//export FLBPluginUnregister
func FLBPluginUnregister(def unsafe.Pointer) { metrics.Shared.Release() }

//export FLBPluginInit
func FLBPluginInit(plugin unsafe.Pointer) C.int {
	p := (*C.struct_flbgo_input_plugin)(plugin)
	api, ins := p.api, p.i_ins
	get := func(key string) string {
		k := C.CString(key)
		defer C.free(unsafe.Pointer(k))
		if v := C.flb_input_property(api, ins, k); v != nil {
			return C.GoString(v)
		}
		return ""
	}
	mu.Lock()
	defaultName := fmt.Sprintf("docker_logs.%d", len(order))
	mu.Unlock()
	cfg, err := config.Parse(get, defaultName)
	if err != nil {
		newLogger(api, ins, defaultName).Error("init failed: " + err.Error())
		return C.FLB_ERROR
	}
	log := newLogger(api, ins, cfg.InstanceName)
	docker, err := capture.NewDockerClient(cfg)
	if err != nil {
		log.Error("init failed: " + err.Error())
		return C.FLB_ERROR
	}
	inst := &instance{name: cfg.InstanceName, key: C.malloc(1), docker: docker,
		m: metrics.NewInput(cfg.InstanceName, cfg.MetricsContainerLabels)}
	inst.engine = capture.New(cfg, docker, log, inst.m)
	mu.Lock()
	if c, ok := carried[cfg.InstanceName]; ok {
		inst.engine.ResumeFrom(c.positions, c.stopped)
		delete(carried, cfg.InstanceName)
	}
	mu.Unlock()
	metrics.Shared.Serve(cfg.MetricsListen, cfg.InstanceName, inst.engine.Health, log)
	inst.engine.Start()
	p.context.remote_context = inst.key

	mu.Lock()
	live[inst.key] = inst
	order = append(order, inst)
	mu.Unlock()
	log.Info("started", "docker_host", cfg.DockerHost, "rotate_interval", cfg.RotateInterval)
	return C.FLB_OK
}

func lookup(ctx unsafe.Pointer) *instance {
	mu.Lock()
	defer mu.Unlock()
	return live[ctx]
}

// first serves the context-free callbacks of Fluent Bit before 4.1, which
// knows one instance only.
func first() *instance {
	mu.Lock()
	defer mu.Unlock()
	if len(order) == 0 {
		return nil
	}
	return order[0]
}

// collect hands the instance's records over as one C buffer, the one they
// were encoded into.
func collect(inst *instance, data *unsafe.Pointer, size *C.size_t) C.int {
	*data, *size = nil, 0
	if inst == nil {
		return C.FLB_OK
	}
	// The block is C memory (memory.go): Fluent Bit owns it from here and
	// gives it back through the cleanup callback.
	if b := inst.engine.Take(); len(b) > 0 {
		*data, *size = unsafe.Pointer(unsafe.SliceData(b)), C.size_t(len(b))
	}
	return C.FLB_OK
}

//export FLBPluginInputCallbackCtx
func FLBPluginInputCallbackCtx(ctx unsafe.Pointer, data *unsafe.Pointer, size *C.size_t) C.int {
	return collect(lookup(ctx), data, size)
}

//export FLBPluginInputCallback
func FLBPluginInputCallback(data *unsafe.Pointer, size *C.size_t) C.int {
	return collect(first(), data, size)
}

//export FLBPluginInputCleanupCallbackCtx
func FLBPluginInputCleanupCallbackCtx(ctx, data unsafe.Pointer) C.int {
	C.free(data)
	return C.FLB_OK
}

//export FLBPluginInputCleanupCallback
func FLBPluginInputCleanupCallback(data unsafe.Pointer) C.int {
	C.free(data)
	return C.FLB_OK
}

// FLBPluginInputPause is called once per instance with nothing saying which.
// Fluent Bit's proxy stops the collector of the last-initialised instance
// whichever instance hit its limit, so that is the one whose reading stops;
// calls are counted so that N pauses need N resumes. Every other instance
// is still bounded by its own buffer_max_size.
//
//export FLBPluginInputPause
func FLBPluginInputPause() {
	mu.Lock()
	defer mu.Unlock()
	pauses++
	if len(order) > 0 {
		order[len(order)-1].engine.Pause()
	}
}

//export FLBPluginInputResume
func FLBPluginInputResume() {
	mu.Lock()
	defer mu.Unlock()
	if pauses > 0 {
		pauses--
	}
	if pauses == 0 && len(order) > 0 {
		order[len(order)-1].engine.Resume()
	}
}

//export FLBPluginInputPreRun
func FLBPluginInputPreRun(hotReloading C.int) C.int { return 0 }

// FLBPluginInputPreExit stops reading, for every instance: pre-exit comes
// only when all of them are about to exit (shutdown or hot reload).
//
//export FLBPluginInputPreExit
func FLBPluginInputPreExit(hotReloading C.int) {
	mu.Lock()
	insts := append([]*instance(nil), order...)
	mu.Unlock()
	stopAll(insts)
}

// FLBPluginExit is called once per instance with nothing saying which; the
// first call ends them all, the others find nothing left.
//
//export FLBPluginExit
func FLBPluginExit() C.int {
	mu.Lock()
	insts := order
	order, live, pauses = nil, map[unsafe.Pointer]*instance{}, 0
	mu.Unlock()
	stopAll(insts)
	stopped := time.Now()
	for _, inst := range insts {
		mu.Lock()
		carried[inst.name] = carriedPositions{inst.engine.Positions(), stopped}
		mu.Unlock()
		inst.docker.Close()
		metrics.Shared.Forget(inst.name)
		metrics.Shared.Release()
		inst.m.Close()
		C.free(inst.key)
	}
	return C.FLB_OK
}

// stopAll stops engines in parallel, so shutdown takes one engine's time.
func stopAll(insts []*instance) {
	var wg sync.WaitGroup
	for _, inst := range insts {
		wg.Go(inst.engine.Stop)
	}
	wg.Wait()
}
