package domain

import "slices"

// plist is the persistent list behind an incident log: leaves of 16 items under mid
// nodes of 64 leaves under a top list. A change copies the leaf, the mid node and the
// top list on its way unless the caller owns them (a fold from scratch).
type plist[T any] struct {
	top []*[incidentMidSize]*[incidentLeafSize]T // shared: replaced, never modified in place
	n   int
}

const (
	incidentLeafSize = 16
	incidentMidSize  = 64
	incidentsPerTop  = incidentLeafSize * incidentMidSize
)

// at points into the shared leaf holding item i (< n): read it, never write through it.
func (p plist[T]) at(i int) *T {
	return &p.top[i/incidentsPerTop][i/incidentLeafSize%incidentMidSize][i%incidentLeafSize]
}

// set stores v as item i, which is at most n.
func (p *plist[T]) set(i int, v T, owned bool) {
	t, m, k := i/incidentsPerTop, i/incidentLeafSize%incidentMidSize, i%incidentLeafSize
	switch {
	case t == len(p.top) && owned:
		p.top = append(p.top, new([incidentMidSize]*[incidentLeafSize]T))
	case t == len(p.top):
		p.top = append(slices.Clip(p.top), new([incidentMidSize]*[incidentLeafSize]T))
	case !owned:
		p.top = slices.Clone(p.top)
		mid := *p.top[t]
		p.top[t] = &mid
	}
	mid := p.top[t]
	switch leaf := mid[m]; {
	case leaf == nil:
		mid[m] = new([incidentLeafSize]T)
	case !owned:
		copied := *leaf
		mid[m] = &copied
	}
	mid[m][k] = v
	p.n = max(p.n, i+1)
}
