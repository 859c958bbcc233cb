package main

/*
#include "flb.h"
*/
import "C"

import (
	"bytes"
	"context"
	"log/slog"
	"unsafe"
)

// flbHandler writes slog records through Fluent Bit's own log API, so the
// plugin follows Fluent Bit's log_level and output. Records wait in
// pendingLogs for a Fluent Bit thread to write them (see logqueue.go).
type flbHandler struct {
	api      *C.struct_flb_api
	ins      unsafe.Pointer
	instance string
	prefix   string
	attrs    []slog.Attr
	groups   []string
}

func newLogger(api *C.struct_flb_api, ins unsafe.Pointer, instance string) *slog.Logger {
	return slog.New(&flbHandler{api: api, ins: ins, instance: instance, prefix: "[input:docker_logs:" + instance + "] "})
}

func flbLevel(l slog.Level) C.int {
	switch {
	case l >= slog.LevelError:
		return 1
	case l >= slog.LevelWarn:
		return 2
	case l >= slog.LevelInfo:
		return 3
	case l >= slog.LevelDebug:
		return 4
	}
	return 5
}

func (h *flbHandler) Enabled(_ context.Context, l slog.Level) bool {
	return C.flb_input_log_enabled(h.api, h.ins, flbLevel(l)) != 0
}

func (h *flbHandler) Handle(ctx context.Context, r slog.Record) error {
	var b bytes.Buffer
	b.WriteString(h.prefix)
	b.WriteString(r.Message)
	var text slog.Handler = slog.NewTextHandler(&b, &slog.HandlerOptions{
		Level: slog.LevelDebug - 8,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	text = text.WithAttrs(h.attrs)
	for _, g := range h.groups {
		text = text.WithGroup(g)
	}
	b.WriteByte(' ')
	_ = text.Handle(ctx, r)
	pendingLogs.add(h.instance, flbLevel(r.Level), string(bytes.TrimSpace(b.Bytes())))
	return nil
}

func (h *flbHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), attrs...)
	return &c
}

func (h *flbHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.groups = append(append([]string{}, h.groups...), name)
	return &c
}
