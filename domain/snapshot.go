package domain

// PartnerSnapshotVersion names the shape of a Partner and the meaning of Evolve that a
// stored snapshot of a partner's state was made with. A snapshot of another version is
// ignored (the state is folded from the events instead), never trusted.
//
// Bump it whenever Partner's fields (or those of the types it holds), Evolve/apply or
// the incident log's JSON change: TestPartnerSnapshotVersionFollowsTheStateShape fails
// until you do, because a snapshot written by the old code would otherwise be read as
// a state the new code would not have folded.
//
// Version 2: the incident log learned to hold a window of incidents (a view's, see
// FoldSeqKeeping); a state's log and its snapshots are as in version 1, but the shape
// changed, so version 1 snapshots are refolded once rather than trusted.
//
// Version 3: an incident holds its Severity and its customer's Country
// (IncidentOpened.v2); a version 2 snapshot has neither, so it is refolded.
//
// Version 4: the command executor keeps (and snapshots) a deciding state
// (FoldDeciding), whose closed incidents are compacted to their openers and whose log
// is written as an object; a version 3 snapshot holds every incident whole, and is
// refolded once rather than read as a state of another kind.
//
// Version 5: a deciding state compacts its open incidents too (to their opener and
// that they are open, written as a negative number); a version 4 snapshot holds them
// whole, and is refolded once.
const PartnerSnapshotVersion = 5
