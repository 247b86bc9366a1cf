package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestConsoleSessions(t *testing.T) {
	eachDatabase(t, func(t *testing.T, d *DB) {
		ctx := t.Context()
		testConsoleSessions(ctx, t, d)
	})
}

func testConsoleSessions(ctx context.Context, t *testing.T, d *DB) {
	at := time.Unix(1e9, 0).UTC()
	mk := func(id, key string, created time.Time) ConsoleSession {
		return ConsoleSession{IDHash: id, KeyHash: key, SealedKey: "sealed-" + id, CreatedAt: created, LastUsedAt: created, ExpiresAt: created.Add(3 * time.Hour)}
	}
	b := SessionBounds{PerKey: 3, Total: 5}
	if err := d.CreateConsoleSession(ctx, mk("a", "k1", at), b); err != nil {
		t.Fatal(err)
	}
	got, err := d.ConsoleSession(ctx, "a")
	if err != nil || got != mk("a", "k1", at) {
		t.Fatalf("get: %+v, %v", got, err)
	}
	if _, err := d.ConsoleSession(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing session: %v", err)
	}
	// Touch moves the last use forward only.
	if err := d.TouchConsoleSession(ctx, "a", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := d.TouchConsoleSession(ctx, "a", at); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.ConsoleSession(ctx, "a"); !got.LastUsedAt.Equal(at.Add(time.Minute)) || !got.CreatedAt.Equal(at) {
		t.Fatalf("after touches: %+v", got)
	}
	// One key's sessions past PerKey end its oldest, never another key's.
	for i := range 5 {
		if err := d.CreateConsoleSession(ctx, mk(fmt.Sprint("b", i), "k2", at.Add(time.Duration(i)*time.Second)), b); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := d.CountConsoleSessions(ctx, "k2"); n != 3 {
		t.Fatalf("k2 keeps %d sessions, want 3", n)
	}
	for i, want := range []bool{false, false, true, true, true} {
		if _, err := d.ConsoleSession(ctx, fmt.Sprint("b", i)); (err == nil) != want {
			t.Errorf("k2's session %d: %v, want kept %v", i, err, want)
		}
	}
	if _, err := d.ConsoleSession(ctx, "a"); err != nil {
		t.Fatal("k2's sign-ins ended k1's session")
	}
	// Past Total, a new session is refused and none ends.
	if err := d.CreateConsoleSession(ctx, mk("c", "k3", at), b); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateConsoleSession(ctx, mk("d", "k4", at), b); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("a sixth session: %v", err)
	}
	if n, _ := d.CountConsoleSessions(ctx, ""); n != 5 {
		t.Fatalf("%d sessions, want 5", n)
	}
	// Expiry: past the maximum age, or unused since the idle cut-off.
	n, err := d.DeleteExpiredConsoleSessions(ctx, at.Add(time.Hour), at.Add(2500*time.Millisecond))
	if err != nil || n != 2 { // c (last used at), b2 (at+2s); a was touched, b3, b4 are later
		t.Fatalf("idle sessions deleted: %d, %v", n, err)
	}
	if _, err := d.ConsoleSession(ctx, "a"); err != nil {
		t.Fatal("a used session was deleted as idle")
	}
	if n, err := d.DeleteExpiredConsoleSessions(ctx, at.Add(3*time.Hour+5*time.Second), at); err != nil || n != 3 {
		t.Fatalf("sessions past their age deleted: %d, %v", n, err)
	}
	// Delete ends one; deleting it again is no error.
	if err := d.CreateConsoleSession(ctx, mk("e", "k1", at), b); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := d.DeleteConsoleSession(ctx, "e"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.ConsoleSession(ctx, "e"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a deleted session: %v", err)
	}
}
