package world

import (
	"errors"
	"fmt"
)

// ErrorKind tells the API layer which status a refusal maps to.
type ErrorKind int

// Kinds of refusal.
const (
	// KindInvalid is a request the world refuses (HTTP 400).
	KindInvalid ErrorKind = iota + 1
	// KindNotFound names something that does not exist (HTTP 404).
	KindNotFound
	// KindQuota is a request beyond the group's quota (HTTP 403 in ECS).
	KindQuota
	// KindTokenReused is an idempotency token sent again with other parameters (ECS Ecs.0122).
	KindTokenReused
	// KindTokenExpired is an idempotency token older than its validity (ECS Ecs.0124).
	KindTokenExpired
	// KindState is an action on a server not in the state it needs, such as
	// starting one that is not stopped (ECS Ecs.1000, pool.go).
	KindState
)

// Error is a refusal by the world, with the kind the API layer maps to a status.
type Error struct {
	Kind ErrorKind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func invalidf(format string, a ...any) error {
	return &Error{Kind: KindInvalid, Msg: fmt.Sprintf(format, a...)}
}

func notFoundf(format string, a ...any) error {
	return &Error{Kind: KindNotFound, Msg: fmt.Sprintf(format, a...)}
}

func quotaf(format string, a ...any) error {
	return &Error{Kind: KindQuota, Msg: fmt.Sprintf(format, a...)}
}

// KindOf returns the kind of a world refusal, or 0 for any other error.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func kindf(kind ErrorKind, format string, a ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, a...)}
}
