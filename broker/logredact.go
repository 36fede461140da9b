package broker

import (
	"context"
	"log/slog"

	"github.com/mochi-mqtt/server/v2/packets"
)

// packetRedactor is the log handler mochi writes through. mochi logs whole
// packets with some errors: a second CONNECT with its password ("error
// processing packet"), a PUBLISH a hook refused with its payload, up to the
// largest packet a client may send ("publish packet rejected" or "publish
// packet error"). The redactor logs what kind of packet it was instead: type,
// client id, topic, packet id, QoS and payload size.
type packetRedactor struct{ slog.Handler }

// Handle logs r with every packet in it summarised.
func (h packetRedactor) Handle(ctx context.Context, r slog.Record) error {
	redacted := false
	r.Attrs(func(a slog.Attr) bool {
		_, isPacket := packetOf(a.Value)
		redacted = redacted || isPacket
		return !redacted
	})
	if !redacted {
		return h.Handler.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

// WithAttrs returns the redactor over h's handler with attrs, redacted.
func (h packetRedactor) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = redactAttr(a)
	}
	return packetRedactor{h.Handler.WithAttrs(out)}
}

// WithGroup returns the redactor over h's handler with the group.
func (h packetRedactor) WithGroup(name string) slog.Handler {
	return packetRedactor{h.Handler.WithGroup(name)}
}

// redactAttr returns a, with a packet replaced by its summary.
func redactAttr(a slog.Attr) slog.Attr {
	pk, ok := packetOf(a.Value)
	if !ok {
		return a
	}
	attrs := []any{slog.String("type", packets.PacketNames[pk.FixedHeader.Type])}
	if pk.FixedHeader.Type == packets.Connect {
		attrs = append(attrs, slog.String("client", pk.Connect.ClientIdentifier))
	}
	if pk.TopicName != "" {
		attrs = append(attrs, slog.String("topic", pk.TopicName))
	}
	if pk.PacketID != 0 {
		attrs = append(attrs, slog.Int("id", int(pk.PacketID)))
	}
	if pk.FixedHeader.Type == packets.Publish {
		attrs = append(attrs, slog.Int("qos", int(pk.FixedHeader.Qos)), slog.Int("payload_bytes", len(pk.Payload)))
	}
	return slog.Group(a.Key, attrs...)
}

// packetOf returns the MQTT packet v holds, if it holds one.
func packetOf(v slog.Value) (packets.Packet, bool) {
	if v.Kind() != slog.KindAny {
		return packets.Packet{}, false
	}
	switch pk := v.Any().(type) {
	case packets.Packet:
		return pk, true
	case *packets.Packet:
		if pk != nil {
			return *pk, true
		}
	}
	return packets.Packet{}, false
}
