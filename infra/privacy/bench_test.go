package privacy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/commands"
	"ledger/infra/privacy"
	"ledger/infra/sqlstore"
)

// BenchmarkCommandsWithPersonalData: the throughput cost of crypto-shredding on
// commands. Each op opens a Premier incident for a customer (three sealed values: the
// event's openedBy and customerId, the metadata's actor), through the real executor and
// SQLite store; sealed=false is the same without the shredder. customers=50 cycles
// through one customer per partner (their keys cached after the first sight);
// customers=fresh names a new customer in every incident, so each sealed command
// first creates that customer's key (an INSERT and a SELECT on the store's database).
// Compare the pairs:
//
//	go test ./infra/privacy -run '^$' -bench CommandsWithPersonalData -count 5
func BenchmarkCommandsWithPersonalData(b *testing.B) {
	for _, goroutines := range []int{1, 32} {
		for _, fresh := range []bool{false, true} {
			for _, sealed := range []bool{false, true} {
				customers := map[bool]string{false: "50", true: "fresh"}[fresh]
				b.Run(fmt.Sprintf("goroutines=%d/customers=%s/sealed=%v", goroutines, customers, sealed), func(b *testing.B) {
					benchmarkCommands(b, goroutines, fresh, sealed)
				})
			}
		}
	}
}

func benchmarkCommands(b *testing.B, goroutines int, freshCustomers, sealed bool) {
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "events.db"), sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	var opts []commands.Option
	if sealed {
		keys, err := privacy.OpenKeys(ctx, store.DB())
		if err != nil {
			b.Fatal(err)
		}
		shred := privacy.NewShredder(keys)
		b.Cleanup(domain.UsePersonalData(shred))
		opts = append(opts, commands.WithPersonalData(shred))
	}
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	x := commands.New(store, append(opts, commands.WithClock(func() time.Time { return at }))...)
	b.Cleanup(func() { x.Close() })
	const partners = 50
	mpns := make([]string, partners)
	for i := range mpns {
		mpns[i] = fmt.Sprintf("54%05d", i)
		admin := domain.Actor{UserID: "admin." + mpns[i] + "@contoso.example"}
		for _, cmd := range []domain.Command{
			domain.EnrollPartner{MPNID: mpns[i], By: platform, Name: "Contoso"},
			domain.RegisterUser{MPNID: mpns[i], By: platform, UserID: admin.UserID, AccountType: domain.AccountAAD, MPNLinked: true, Roles: []domain.Role{domain.RoleGlobalAdmin}},
			domain.PurchaseSupportPlan{MPNID: mpns[i], By: admin, Plan: domain.PlanPremier, ValidFrom: at.AddDate(0, -1, 0), ValidUntil: at.AddDate(5, 0, 0)},
		} {
			if _, err := x.Partner(ctx, mpns[i], cmd, commands.Meta{Actor: platform}); err != nil {
				b.Fatal(err)
			}
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	work := make(chan struct{})
	for range goroutines {
		wg.Go(func() {
			for range work {
				n := next.Add(1)
				mpn := mpns[int(n)%partners]
				admin := domain.Actor{UserID: "admin." + mpn + "@contoso.example"}
				customer := "customer-" + mpn
				if freshCustomers {
					customer = fmt.Sprintf("customer-%d", n)
				}
				if _, err := x.Partner(ctx, mpn, domain.OpenIncident{MPNID: mpn, By: admin, Plan: domain.PlanPremier, Product: "SQL Server",
					Version: "2025", CustomerID: customer, Title: "bench"}, commands.Meta{Actor: admin}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commands/s")
}

// BenchmarkEncodeDecodeIncident: the CPU of crypto-shredding alone, one IncidentOpened
// encoded and decoded with and without sealing (keys cached, as in steady state).
func BenchmarkEncodeDecodeIncident(b *testing.B) {
	for _, sealed := range []bool{false, true} {
		b.Run(fmt.Sprintf("sealed=%v", sealed), func(b *testing.B) {
			if sealed {
				_, shred := newShredder(b, b.TempDir())
				b.Cleanup(domain.UsePersonalData(shred))
			}
			e := domain.IncidentOpened{MPNID: "5400001", IncidentID: "IN-5400001-1", Plan: domain.PlanPremier, Product: "SQL Server",
				Version: "2025", CustomerID: "customer-1", Severity: domain.SeverityMinimal, OpenedBy: "admin@contoso.example"}
			b.ReportAllocs()
			for b.Loop() {
				typ, data, err := domain.Encode(e)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := domain.Decode(typ, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
