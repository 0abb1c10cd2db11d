package sink

import (
	"errors"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// refusedCodes are the ClickHouse exception codes that mean the server
// refuses the rows themselves: sending the same rows again cannot succeed.
// Everything else (the server unreachable, overloaded, read-only, a timeout,
// a missing table) is ClickHouse being unavailable, and is waited out.
var refusedCodes = map[int32]string{
	6:   "CANNOT_PARSE_TEXT",
	27:  "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
	38:  "CANNOT_PARSE_DATE",
	41:  "CANNOT_PARSE_DATETIME",
	53:  "TYPE_MISMATCH",
	69:  "ARGUMENT_OUT_OF_BOUND",
	70:  "CANNOT_CONVERT_TYPE",
	72:  "CANNOT_PARSE_NUMBER",
	117: "INCORRECT_DATA",
	128: "TOO_LARGE_ARRAY_SIZE",
	131: "TOO_LARGE_STRING_SIZE",
	190: "SIZES_OF_ARRAYS_DOESNT_MATCH",
	321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
	349: "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
	395: "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO",
	469: "VIOLATED_CONSTRAINT",
}

// errEncode marks a batch the driver could not encode (a value its column
// cannot hold): refused before it reached the server.
type errEncode struct{ err error }

func (e errEncode) Error() string { return e.err.Error() }
func (e errEncode) Unwrap() error { return e.err }

// Refused reports whether err is ClickHouse (or the driver, on its behalf)
// refusing the data of an insert, as opposed to ClickHouse being down or
// failing: the server's exception code decides. Retrying refused rows is
// pointless; the caller finds and sets aside the rows at fault.
func Refused(err error) bool {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		_, ok := refusedCodes[ex.Code]
		return ok
	}
	var enc errEncode
	return errors.As(err, &enc)
}
