package hwcloud

import (
	"context"

	ecsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/model"
)

func serverIDs(ids []string) []ecsmodel.ServerId {
	out := make([]ecsmodel.ServerId, len(ids))
	for i, id := range ids {
		out[i] = ecsmodel.ServerId{Id: id}
	}
	return out
}

func (e *ecsClient) Start(ctx context.Context, ids []string) (string, error) {
	resp, err := invoke[ecsmodel.BatchStartServersResponse](ctx, e.c, "BatchStartServers",
		e.sdk.BatchStartServersInvoker(&ecsmodel.BatchStartServersRequest{Body: &ecsmodel.BatchStartServersRequestBody{
			OsStart: &ecsmodel.BatchStartServersOption{Servers: serverIDs(ids)},
		}}).BaseInvoker)
	if err != nil {
		return "", err
	}
	return strOr(resp.JobId), nil
}

func (e *ecsClient) Stop(ctx context.Context, ids []string) (string, error) {
	soft := ecsmodel.GetBatchStopServersOptionTypeEnum().SOFT
	resp, err := invoke[ecsmodel.BatchStopServersResponse](ctx, e.c, "BatchStopServers",
		e.sdk.BatchStopServersInvoker(&ecsmodel.BatchStopServersRequest{Body: &ecsmodel.BatchStopServersRequestBody{
			OsStop: &ecsmodel.BatchStopServersOption{Servers: serverIDs(ids), Type: &soft},
		}}).BaseInvoker)
	if err != nil {
		return "", err
	}
	return strOr(resp.JobId), nil
}
