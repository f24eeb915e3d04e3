package domain

import "unsafe"

// SizeEstimate is about the heap a state holds, in bytes, reckoned from what it counts
// (the lengths of its maps, of its contracts' pools and links, the incidents its log
// holds and how many of them whole), never by walking its incidents: cheap enough to
// take on every command, for the command executor's cache of states bounded by bytes.
// Strings are reckoned at the sizes IDs and names usually take; the estimate is checked
// against the measured heap of many states (TestSizeEstimateIsWithinAFactorOfTwoOfTheHeap).
func (s Partner) SizeEstimate() int64 {
	n := int64(unsafe.Sizeof(s)) + 2*stringBytes // MPNID, Name
	n += mapBytes(len(s.MembershipByID), unsafe.Sizeof(Membership{})) + int64(len(s.MembershipByID))*stringBytes
	// A user's ID is the map's key too (one string); its roles are a slice of one or two.
	n += mapBytes(len(s.UserByID), unsafe.Sizeof(User{})) + int64(len(s.UserByID))*(stringBytes+roleBytes)
	n += mapBytes(len(s.PaidPlanByID), unsafe.Sizeof(PaidPlan{})) + int64(len(s.PaidPlanByID))*2*stringBytes
	n += mapBytes(len(s.ContractByID), unsafe.Sizeof(Contract{}))
	for _, c := range s.ContractByID { // one per activation: a few, whatever the history
		n += 3*stringBytes + int64(len(c.Pools))*int64(unsafe.Sizeof(Pool{})+8) + int64(cap(c.Links))*int64(unsafe.Sizeof(Link{}))
	}
	return n + s.IncidentLog.sizeEstimate()
}

const (
	stringBytes = 32 // an ID or a name: the allocation of its bytes
	roleBytes   = 32 // a user's roles: a slice of one or two
	// incidentStrings is what an incident's strings (its ID, title, opener and the rest)
	// hold beside the record, as measured on decoded events (size_test.go).
	incidentStrings = 2 * stringBytes
)

// sizeEstimate is the log's part of SizeEstimate: its leaves (allocated whole, 16
// items each), mid nodes and top list, and in a deciding log the openers and the
// incidents kept whole.
func (l IncidentLog) sizeEstimate() int64 {
	if l.deciding {
		n := l.kept.sizeEstimate() + int64(cap(l.openers))*(16+stringBytes)
		return n + int64(l.wholes)*(int64(unsafe.Sizeof(Incident{}))+incidentStrings)
	}
	return l.whole.sizeEstimate() + int64(l.whole.n)*incidentStrings
}

func (p plist[T]) sizeEstimate() int64 {
	leaves := (p.n + incidentLeafSize - 1) / incidentLeafSize
	var item T
	return int64(leaves)*incidentLeafSize*int64(unsafe.Sizeof(item)) +
		int64(len(p.top))*incidentMidSize*8 + int64(cap(p.top))*8
}

// mapBytes is about what a map of n entries of values of size v (keyed by a string)
// holds: its slots, a third of them empty on average as it grows by doubling, and its
// control bytes and headers.
func mapBytes(n int, v uintptr) int64 {
	if n == 0 {
		return 48
	}
	slots := max(8, n*3/2)
	return 48 + int64(slots)*(16+int64(v)+1)
}
