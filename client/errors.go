package client

import (
	"errors"
	"fmt"

	pb "github.com/daemoneye/eventbus/proto/eventbus/v1"
)

// Errors returned by the client. Failures wrap one of them.
var (
	// ErrNotConnected: the connection to the broker is gone for good (the
	// client has ended; the error also wraps the reason), or it failed
	// after a request was written and before its answer arrived, so the
	// request's outcome is unknown.
	ErrNotConnected = errors.New("client: not connected")
	// ErrClosed: Close was called.
	ErrClosed = errors.New("client: closed")
	// ErrRefused: the broker refused a request; errors.As gives the
	// *BrokerError with its code and reason.
	ErrRefused = errors.New("client: refused by the broker")
	// ErrFrameTooLarge: the message does not fit the broker's frame limit.
	ErrFrameTooLarge = errors.New("client: message exceeds the maximum frame size")
	// ErrBadTopic: the topic name is invalid (checked before sending).
	ErrBadTopic = errors.New("client: invalid topic")
	// ErrBadFilter: the subscription filter is invalid (checked before sending).
	ErrBadFilter = errors.New("client: invalid filter")
	// ErrNoReply: the broker did not answer a request in time, or nobody
	// answered a Request before its deadline.
	ErrNoReply = errors.New("client: no reply from the broker")
	// ErrBufferFull: the outbound buffer is full (Options.WhenFull).
	ErrBufferFull = errors.New("client: outbound buffer full")
	// ErrNoResponders: the broker found no subscription for a Request.
	ErrNoResponders = errors.New("client: no responders")
	// ErrNotARequest: Respond was called on a message that is not a
	// request.
	ErrNotARequest = errors.New("client: message is not a request")
	// ErrBadGroup: the queue group name is invalid (checked before
	// sending).
	ErrBadGroup = errors.New("client: invalid queue group")
)

// BrokerError is an error reported by the broker: a refused handshake,
// subscription, publish or admin request, or the reason it closed the
// connection.
type BrokerError struct {
	Code    pb.ErrorCode
	Message string
	// Topic is the topic or filter concerned, when there is one.
	Topic string
	// Fatal is true when the broker closed the connection after it.
	Fatal bool
}

func (e *BrokerError) Error() string {
	if e.Topic != "" {
		return fmt.Sprintf("client: broker refused %q: %s (%s)", e.Topic, e.Message, codeName(e.Code))
	}
	return fmt.Sprintf("client: broker: %s (%s)", e.Message, codeName(e.Code))
}

// Is makes every BrokerError match ErrRefused.
func (e *BrokerError) Is(target error) bool { return target == ErrRefused }

func brokerError(e *pb.Error) *BrokerError {
	return &BrokerError{Code: e.Code, Message: e.Message, Topic: e.Topic, Fatal: e.Fatal}
}

// codeName turns ERROR_CODE_NOT_AUTHORIZED into "not authorized".
func codeName(c pb.ErrorCode) string {
	name := c.String()
	const prefix = "ERROR_CODE_"
	if len(name) > len(prefix) && name[:len(prefix)] == prefix {
		name = name[len(prefix):]
	}
	b := []byte(name)
	for i, ch := range b {
		switch {
		case ch == '_':
			b[i] = ' '
		case ch >= 'A' && ch <= 'Z':
			b[i] = ch + ('a' - 'A')
		}
	}
	return string(b)
}
