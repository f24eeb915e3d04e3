package handlers

import (
	"testing"
	"time"
)

// A token verified once is taken from the cache only until its expiry plus the clock
// leeway, exactly when the parser would start refusing it.
func TestVerifiedTokenIsRefusedFromItsExpiryOn(t *testing.T) {
	v := newVerifiedTokens()
	exp := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	v.put("tok", Principal{UserID: "alice"}, exp)
	if p, ok := v.get("tok", exp.Add(TokenClockLeeway-time.Second)); !ok || p.UserID != "alice" {
		t.Fatalf("within the leeway: %v %v, want alice", p, ok)
	}
	if _, ok := v.get("tok", exp.Add(TokenClockLeeway)); ok {
		t.Fatal("an expired token was still accepted from the cache")
	}
	if _, ok := v.get("tok", exp); ok {
		t.Fatal("an expired token stayed in the cache")
	}
	if _, ok := v.get("other", exp.Add(-time.Hour)); ok {
		t.Fatal("a token never verified was accepted")
	}
}
