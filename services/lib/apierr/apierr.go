// Package apierr writes the machine-readable error body every service answers
// with: {"error": {"code", "message", "param", "fields": [{field, reason}]}}.
package apierr

import (
	"github.com/gin-gonic/gin"

	"logpipe/lib/logevent"
)

// Error codes, stable for clients to branch on.
const (
	CodeUnauthorized  = "unauthorized"
	CodeForbidden     = "forbidden"
	CodeNotFound      = "not_found"
	CodeInvalid       = "invalid_request"
	CodeTooLarge      = "payload_too_large"
	CodeUnsupported   = "unsupported_media_type"
	CodeQuotaExceeded = "quota_exceeded"
	CodeOverloaded    = "overloaded"
	CodeUnavailable   = "unavailable"
	CodeInternal      = "internal_error"
)

// Body is the error document.
type Body struct {
	Error Detail `json:"error"`
}

// Detail describes one error.
type Detail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Param names the offending query parameter or field, when there is one.
	Param  string                `json:"param,omitempty"`
	Fields []logevent.FieldError `json:"fields,omitempty"`
}

// New returns an error body.
func New(code, message string) Body { return Body{Error: Detail{Code: code, Message: message}} }

// Abort answers status with the error and stops the handler chain.
func Abort(c *gin.Context, status int, code, message string) {
	c.AbortWithStatusJSON(status, New(code, message))
}

// AbortParam answers 400 naming the bad parameter.
func AbortParam(c *gin.Context, param, message string) {
	b := New(CodeInvalid, message)
	b.Error.Param = param
	c.AbortWithStatusJSON(400, b)
}
