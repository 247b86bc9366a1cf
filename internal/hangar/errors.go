package hangar

import (
	"errors"
	"fmt"
	"net/http"
)

// Code classifies an error for API clients. The HTTP status for each code is chosen in
// one place, Code.HTTPStatus: the server answers with it, the client reads answers
// without a code by it (CodeOfStatus) and the CLI's exit codes follow it.
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
	CodeTooManyRequests    Code = "TooManyRequests"      // over the tenant's request rate; retry after Retry-After
	CodeUnsupportedMedia   Code = "UnsupportedMediaType" // a body not in the form the call takes
	CodeMethodNotAllowed   Code = "MethodNotAllowed"
	CodeChecksumMismatch   Code = "ChecksumMismatch"   // the bytes did not hash to the checksum given; nothing was stored
	CodeImportRefused      Code = "ImportURLRefused"   // an import URL leads where the server may not go (SSRF policy)
	CodeImportSource       Code = "ImportSourceFailed" // the import URL's server refused or failed to give the file
	CodeInternal           Code = "InternalError"
)

// HTTPStatus is the status the API answers with for c.
func (c Code) HTTPStatus() int {
	switch c {
	case CodeInvalid, CodeInvalidDisk, CodeChecksumMismatch, CodeImportSource:
		return http.StatusBadRequest
	case CodeUnauthenticated:
		return http.StatusUnauthorized
	case CodeForbidden, CodeImportRefused:
		return http.StatusForbidden
	case CodeNotFound, CodeDiskNotFound, CodeImageNotFound, CodeTenantNotFound, CodeUploadNotFound:
		return http.StatusNotFound
	case CodeConflict, CodeInUse, CodeTermsNotAccepted, CodeQuotaExceeded:
		// A quota conflicts with what the tenant holds now: deleting something, or
		// a higher limit, makes the same request succeed.
		return http.StatusConflict
	case CodePreconditionFailed:
		return http.StatusPreconditionFailed
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeTooManyRequests:
		return http.StatusTooManyRequests
	case CodeUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	}
	return http.StatusInternalServerError
}

// genericCodes are the codes that stand for their status as a whole, in the order
// CodeOfStatus tries them.
var genericCodes = []Code{CodeInvalid, CodeUnauthenticated, CodeForbidden, CodeNotFound, CodeConflict,
	CodePreconditionFailed, CodeTooLarge, CodeUnavailable, CodeTooManyRequests, CodeUnsupportedMedia, CodeMethodNotAllowed}

// CodeOfStatus is the code of an answer that carries none (a proxy's or load
// balancer's page): the generic code HTTPStatus maps to that status, so that a
// caller can tell a missing resource or a down server from a bug. A gateway's 502
// and 504 say the server is unavailable.
func CodeOfStatus(status int) Code {
	if status == http.StatusBadGateway || status == http.StatusGatewayTimeout {
		return CodeUnavailable
	}
	for _, c := range genericCodes {
		if c.HTTPStatus() == status {
			return c
		}
	}
	return CodeInternal
}

// Error is an error with a code and a message that is safe to show to the user.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// RequestID is the server's ID of the request that failed (also its
	// x-ms-request-id header): quote it when reporting a problem.
	RequestID string `json:"requestId,omitempty"`
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
