package qmp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeQEMU serves QMP on a unix socket with scripted answers. It stands in for QEMU
// in this unit test only; the end-to-end tests drive real QEMU.
func fakeQEMU(t *testing.T, answer func(cmd string) string) string {
	path := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte(`{"QMP": {"version": {}, "capabilities": []}}` + "\n"))
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return
			}
			var req struct {
				Execute string `json:"execute"`
			}
			json.Unmarshal(line, &req)
			a := answer(req.Execute)
			if a == "" {
				return // hang up, as a QEMU that quits
			}
			c.Write([]byte(a + "\n"))
		}
	}()
	return path
}

func TestMonitor(t *testing.T) {
	path := fakeQEMU(t, func(cmd string) string {
		switch cmd {
		case "qmp_capabilities":
			return `{"return": {}}`
		case "query-status":
			return `{"event": "RESUME", "data": {}}` + "\n" + `{"return": {"running": true, "status": "running"}}`
		case "device_del":
			return `{"error": {"class": "DeviceNotFound", "desc": "Device 'x' not found"}}`
		}
		return ""
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	st, err := m.QueryStatus(ctx)
	if err != nil || !st.Running || st.Status != "running" {
		t.Fatalf("QueryStatus = %+v, %v", st, err)
	}
	if ev := <-m.Events(); ev.Name != "RESUME" {
		t.Fatalf("event %q, want RESUME", ev.Name)
	}
	var qerr *Error
	if err := m.DeviceDel(ctx, "x"); !errors.As(err, &qerr) || qerr.Class != "DeviceNotFound" {
		t.Fatalf("DeviceDel error = %v", err)
	}
	if err := m.Quit(ctx); err != nil {
		t.Fatalf("Quit when QEMU hangs up: %v", err)
	}
	if err := m.Cont(ctx); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("command after disconnect: %v", err)
	}
}

func TestDialTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Dial(ctx, filepath.Join(t.TempDir(), "missing.sock"))
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("Dial of a missing socket: %v", err)
	}
}

// TestDeadlineDoesNotOutliveCall: a call's deadline ends with the call; a later
// call without one still reaches QEMU.
func TestDeadlineDoesNotOutliveCall(t *testing.T) {
	path := fakeQEMU(t, func(cmd string) string { return `{"return": {"running": true, "status": "running"}}` })
	m, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := m.QueryStatus(ctx); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	if _, err := m.QueryStatus(context.Background()); err != nil {
		t.Fatalf("a call after an earlier call's deadline passed: %v", err)
	}
}
