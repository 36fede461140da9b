package metrics

import "testing"

// A subscription filter the ACL refuses is counted as a read denial, and a
// moment later as a subscription denial. A scrape in between must not make
// the delivery denials counter go down afterwards (Prometheus would read a
// reset, and rate() a burst of denials).
func TestDeliveryDenials_NeverGoDown(t *testing.T) {
	m := New()
	m.ReadDenied() // a delivery refused
	if got := m.deliveryDenials(); got != 1 {
		t.Fatalf("after one refused delivery: %d", got)
	}
	m.ReadDenied() // a filter refused, not yet counted by its SUBACK
	between := m.deliveryDenials()
	m.SubscribeDenied(1)
	if after := m.deliveryDenials(); after < between {
		t.Fatalf("delivery denials went from %d to %d", between, after)
	}
	m.ReadDenied() // another delivery refused: the count moves on from the truth
	if got := m.deliveryDenials(); got != 2 {
		t.Fatalf("after two refused deliveries: %d, want 2", got)
	}
}
