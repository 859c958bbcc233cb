// Package main is the cgo shell of the docker_logs input: it translates
// Fluent Bit's callbacks into calls on capture.Input and owns C memory.
package main

/*
#include <string.h>
#include "flb.h"
*/
import "C"

import (
	"fmt"
	"log/slog"
	"sync"
	"unsafe"

	"docker_logs/capture"
	"docker_logs/capture/config"
	"docker_logs/capture/metrics"
)

func main() {}

// instance is one configured docker_logs input.
type instance struct {
	name  string
	key   unsafe.Pointer // C memory: Fluent Bit's remote_context for it
	api   *C.struct_flb_api
	input *capture.Input
	log   *slog.Logger
	// warnedMisroute: the warning that Fluent Bit's pause of this instance
	// stopped another one's collector was logged.
	warnedMisroute bool
	// pauses is how many pauses are not yet resumed (under mu): 0 or 1
	// when Fluent Bit's thread tells which instance is paused, a count
	// when it does not. While it is above 0, collect hands nothing over:
	// Fluent Bit would hold it in the paused input's ring buffer.
	pauses int
}

var (
	mu sync.Mutex
	// live holds the running instances by remote_context, in init order.
	live  = map[unsafe.Pointer]*instance{}
	order []*instance
	// threads maps the OS thread of each instance's Fluent Bit input
	// thread, where its init, collect, pause, resume and exit run, to it.
	threads = map[C.long]*instance{}
	// anonymousExits counts exits from threads that name no instance.
	anonymousExits int
	// carried holds, by instance name, where exited instances stopped: the
	// Go runtime outlives a hot reload, so the new instances resume there.
	carried = map[string]capture.Carried{}
)

// defName and defDescription are allocated once: Fluent Bit never frees a
// def's strings, and each hot reload registers again.
var (
	defName        = C.CString("docker_logs")
	defDescription = C.CString("Docker container logs through the Docker Engine API")
)

//export FLBPluginPreRegister
func FLBPluginPreRegister(hotReloading C.int) C.int { return 0 }

//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) C.int {
	d := (*C.struct_flb_plugin_proxy_def)(def)
	d._type = C.FLB_PROXY_INPUT_PLUGIN
	d.proxy = C.FLB_PROXY_GOLANG
	d.flags = 0
	d.name = defName
	d.description = defDescription
	d.event_type = 0
	d.config_map = configMap()
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
	defer flushLogs(api)
	cfg, err := config.Parse(get, defaultName)
	if err != nil {
		newLogger(api, ins, defaultName).Error("init failed: " + err.Error())
		return C.FLB_ERROR
	}
	log := newLogger(api, ins, cfg.InstanceName)
	deps := capture.Deps{Memory: cMemory{}, Log: log}
	mu.Lock()
	if c, ok := carried[cfg.InstanceName]; ok {
		deps.Carried = &c
		delete(carried, cfg.InstanceName)
	}
	mu.Unlock()
	input, err := capture.Open(cfg, deps)
	if err != nil {
		log.Error("init failed: " + err.Error())
		return C.FLB_ERROR
	}
	logsDropped.WithLabelValues(cfg.InstanceName) // shows at 0 from the start
	inst := &instance{name: cfg.InstanceName, key: C.malloc(1), api: api, input: input, log: log}
	p.context.remote_context = inst.key

	mu.Lock()
	live[inst.key] = inst
	order = append(order, inst)
	threads[C.flb_caller_thread()] = inst
	mu.Unlock()
	log.Info("started", "docker_host", cfg.DockerHost, "rotate_interval", cfg.RotateInterval)
	return C.FLB_OK
}

// lookup returns the instance of remote_context ctx, and remembers the
// calling thread as its own.
func lookup(ctx unsafe.Pointer) *instance {
	mu.Lock()
	defer mu.Unlock()
	inst := live[ctx]
	if inst != nil {
		threads[C.flb_caller_thread()] = inst
	}
	return inst
}

// callerLocked returns the instance whose Fluent Bit thread is calling,
// known says whether the thread named it. Otherwise it is the
// last-initialised instance: the one whose collector Fluent Bit's proxy
// stops on a pause. Hold mu.
func callerLocked() (inst *instance, known bool) {
	if inst, ok := threads[C.flb_caller_thread()]; ok {
		return inst, true
	}
	if len(order) == 0 {
		return nil, false
	}
	return order[len(order)-1], false
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
// were encoded into, unless the instance is paused. While a backlog is
// being read it first waits (at most 0.8 s) for its end: the collect runs
// on the instance's own Fluent Bit thread.
func collect(inst *instance, data *unsafe.Pointer, size *C.size_t) C.int {
	*data, *size = nil, 0
	if inst == nil {
		return C.FLB_OK
	}
	defer flushLogs(inst.api)
	mu.Lock()
	paused := inst.pauses > 0
	mu.Unlock()
	if paused {
		return C.FLB_OK
	}
	// The block is C memory (memory.go): Fluent Bit owns it from here and
	// gives it back through the cleanup callback.
	if b := inst.input.Collect(); len(b) > 0 {
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
	freeBlock(data)
	return C.FLB_OK
}

//export FLBPluginInputCleanupCallback
func FLBPluginInputCleanupCallback(data unsafe.Pointer) C.int {
	freeBlock(data)
	return C.FLB_OK
}

// FLBPluginInputPause is called on the thread of the instance Fluent Bit
// pauses (its mem_buf_limit or storage limit is hit), with nothing else
// saying which: the thread tells. That instance stops reading and hands
// nothing over until it resumes. (Fluent Bit's proxy also stops the
// collector of the last-initialised instance, whichever one is paused.)
//
//export FLBPluginInputPause
func FLBPluginInputPause() { setPaused(true) }

//export FLBPluginInputResume
func FLBPluginInputResume() { setPaused(false) }

func setPaused(pause bool) {
	mu.Lock()
	inst, known := callerLocked()
	if inst == nil {
		mu.Unlock()
		return
	}
	switch {
	case known && pause:
		inst.pauses = 1
		warnMisroutedPauseLocked(inst)
	case known:
		inst.pauses = 0
	case pause:
		inst.pauses++ // N anonymous pauses need N resumes
	case inst.pauses > 0:
		inst.pauses--
	}
	if inst.pauses > 0 {
		inst.input.Pause()
	} else {
		inst.input.Unpause()
	}
	mu.Unlock()
	flushLogs(inst.api)
}

// warnMisroutedPauseLocked logs, once per instance, that Fluent Bit's
// pause of inst stopped the collector of another docker_logs instance:
// Fluent Bit's Go proxy pauses the collector of the last-initialised
// instance of a plugin, whichever instance is paused (README, Limits).
// Hold mu.
func warnMisroutedPauseLocked(inst *instance) {
	last := order[len(order)-1]
	if last == inst || inst.warnedMisroute {
		return
	}
	inst.warnedMisroute = true
	inst.log.Warn("Fluent Bit paused this input (its mem_buf_limit or storage limit), and its Go proxy stopped the collector of another input instead: "+
		last.name+" hands nothing over until this one resumes. Declare the docker_logs input most likely to be paused last",
		"stopped_input", last.name)
}

//export FLBPluginInputPreRun
func FLBPluginInputPreRun(hotReloading C.int) C.int { return 0 }

// FLBPluginInputPreExit stops reading, for every instance: pre-exit comes
// only when all of them are about to exit (shutdown or hot reload). Their
// positions are saved at each one's own exit, after its last collect.
//
//export FLBPluginInputPreExit
func FLBPluginInputPreExit(hotReloading C.int) {
	mu.Lock()
	insts := append([]*instance(nil), order...)
	inst, _ := callerLocked()
	mu.Unlock()
	stopAll(insts)
	if inst != nil {
		flushLogs(inst.api)
	}
}

// FLBPluginExit is called once per instance, on its thread, after its last
// collect: that instance ends here and its positions are saved. Exits from
// threads that name no instance are counted; the last of them ends every
// instance left.
//
//export FLBPluginExit
func FLBPluginExit() C.int {
	var done []*instance
	mu.Lock()
	if inst, known := callerLocked(); known {
		done = []*instance{inst}
	} else if anonymousExits++; anonymousExits >= len(order) {
		done = append(done, order...)
		anonymousExits = 0
	}
	for _, inst := range done {
		forgetLocked(inst)
	}
	mu.Unlock()

	stopAll(done)
	for _, inst := range done {
		c := inst.input.Close()
		mu.Lock()
		carried[inst.name] = c
		mu.Unlock()
		logsDropped.DeleteLabelValues(inst.name)
		flushLogs(inst.api)
		C.free(inst.key)
	}
	return C.FLB_OK
}

// forgetLocked removes inst from the running instances. Hold mu.
func forgetLocked(inst *instance) {
	delete(live, inst.key)
	for i, o := range order {
		if o == inst {
			order = append(order[:i:i], order[i+1:]...)
			break
		}
	}
	for tid, o := range threads {
		if o == inst {
			delete(threads, tid)
		}
	}
}

// stopAll stops inputs in parallel, so shutdown takes one input's time.
func stopAll(insts []*instance) {
	var wg sync.WaitGroup
	for _, inst := range insts {
		wg.Go(inst.input.Stop)
	}
	wg.Wait()
}
