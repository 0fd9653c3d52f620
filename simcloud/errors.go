package simcloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// apiError is an error answer. The body takes the shape of the service that
// gives it: API Gateway and Cloud Eye answer {"error_code", "error_msg"},
// AS and ECS answer {"error": {"code", "message"}}. The SDK parses both into
// sdkerr.ServiceResponseError.
type apiError struct {
	status  int
	code    string
	msg     string
	gateway bool
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg) }

func gatewayError(status int, code, msg string) *apiError {
	return &apiError{status: status, code: code, msg: msg, gateway: true}
}

// serviceCode is the error code simcloud answers with, per service and status.
func serviceCode(service string, status int) string {
	switch service + fmt.Sprint(status) {
	case "ces400":
		return "ces.0014"
	case "ces404":
		return "ces.0011"
	case "as400":
		return "AS.2019"
	case "as404":
		return "AS.2007"
	case "as403":
		return "AS.2030"
	case "ecs400":
		return "Ecs.0005"
	case "ecs404":
		return "Ecs.0114"
	case "ecs403":
		return "Ecs.0605"
	}
	return "SYS." + fmt.Sprint(status)
}

// badRequest is a 400 in the service's own code.
func badRequest(service, format string, a ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: serviceCode(service, http.StatusBadRequest), msg: fmt.Sprintf(format, a...)}
}

func notFound(service, format string, a ...any) *apiError {
	return &apiError{status: http.StatusNotFound, code: serviceCode(service, http.StatusNotFound), msg: fmt.Sprintf(format, a...)}
}

// worldError maps a world refusal to the service's answer.
func worldError(service string, err error) error {
	status := http.StatusInternalServerError
	switch world.KindOf(err) {
	case world.KindInvalid:
		status = http.StatusBadRequest
	case world.KindNotFound:
		status = http.StatusNotFound
	case world.KindQuota:
		status = http.StatusForbidden
	case world.KindTokenReused:
		return &apiError{status: http.StatusBadRequest, code: "Ecs.0122", msg: err.Error()}
	case world.KindTokenExpired:
		return &apiError{status: http.StatusBadRequest, code: "Ecs.0124", msg: err.Error()}
	case world.KindState:
		return &apiError{status: http.StatusBadRequest, code: "Ecs.1000", msg: err.Error()}
	default:
		return err
	}
	return &apiError{status: status, code: serviceCode(service, status), msg: err.Error()}
}

type flatError struct {
	ErrorCode string `json:"error_code"`
	ErrorMsg  string `json:"error_msg"`
	RequestID string `json:"request_id"`
}

type nestedError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error, service string) {
	var e *apiError
	if !errors.As(err, &e) {
		s.logger.Error("simcloud request failed", "path", r.URL.Path, "err", err)
		e = &apiError{status: http.StatusInternalServerError, code: "SYS.5000", msg: "simcloud: internal error"}
	}
	s.setRequestID(w, r)
	if e.gateway || service == "ces" || service == "apigw" {
		writeJSONCompact(w, e.status, flatError{ErrorCode: e.code, ErrorMsg: e.msg, RequestID: w.Header().Get("X-Request-Id")})
		return
	}
	var body nestedError
	body.Error.Code, body.Error.Message = e.code, e.msg
	writeJSONCompact(w, e.status, body)
}

func writeJSONCompact(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
