package hangar

import (
	"errors"
	"fmt"
)

// Code classifies an error for API clients. The HTTP status for each code is chosen in
// one place, package api.
type Code string

// Error codes. The names follow the Azure style (PascalCase) that users of the model know.
const (
	CodeInvalid            Code = "InvalidArgument"
	CodeUnauthenticated    Code = "Unauthenticated"
	CodeForbidden          Code = "Forbidden"
	CodeNotFound           Code = "NotFound"
	CodeDiskNotFound       Code = "DiskNotFound"
	CodeImageNotFound      Code = "ImageNotFound"
	CodeTenantNotFound     Code = "TenantNotFound"
	CodeUploadNotFound     Code = "UploadNotFound"
	CodeConflict           Code = "Conflict"
	CodeInUse              Code = "ResourceInUse"
	CodePreconditionFailed Code = "PreconditionFailed" // If-Match no longer holds; nothing changed
	CodeTermsNotAccepted   Code = "MarketplaceTermsNotAccepted"
	CodeInvalidDisk        Code = "InvalidDiskImage"
	CodeTooLarge           Code = "TooLarge"
	CodeQuotaExceeded      Code = "QuotaExceeded" // a tenant's limit would be passed; nothing changed
	CodeUnavailable        Code = "ServiceUnavailable"
	CodeUnsupportedMedia   Code = "UnsupportedMediaType" // a body not in the form the call takes
	CodeMethodNotAllowed   Code = "MethodNotAllowed"
	CodeInternal           Code = "InternalError"
)

// Error is an error with a code and a message that is safe to show to the user.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or CodeInternal when err carries none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the user-safe message of err. Errors without a code are
// internal: their text may hold paths or driver details, so it is not shown.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
