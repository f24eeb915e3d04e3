package partition

import "testing"

// The hash is part of the stored data's meaning (subjects in NATS, checkpoints per
// partition): a change would send a partner's events to another partition than the one
// holding its rows. These values pin it.
func TestPartitionOfAPartnerIsStableAcrossReleases(t *testing.T) {
	for _, c := range []struct {
		key  string
		n    int
		want int
	}{
		{"anything", 1, 0},
		{"anything", 0, 0},
	} {
		if got := Of(c.key, c.n); got != c.want {
			t.Errorf("Of(%q, %d) = %d, want %d", c.key, c.n, got, c.want)
		}
	}
	// FNV-1a 32 of "a" is 0xe40c292c; mod 7 = 3826002220 % 7.
	if got, want := Of("a", 7), int(uint32(0xe40c292c)%7); got != want {
		t.Errorf("Of(a, 7) = %d, want %d (FNV-1a)", got, want)
	}
	if OfStream("partner-3000001", 4) != Of("3000001", 4) {
		t.Error("a partner stream's partition is not its MPN ID's")
	}
}

func TestPartitionSpreadsPartnersOverEveryPartition(t *testing.T) {
	seen := map[int]int{}
	for i := range 400 {
		seen[Of(string(rune('A'+i%26))+string(rune('0'+i/26)), 4)]++
	}
	for k := range 4 {
		if seen[k] < 50 {
			t.Errorf("partition %d got %d of 400 keys: %v", k, seen[k], seen)
		}
	}
}
