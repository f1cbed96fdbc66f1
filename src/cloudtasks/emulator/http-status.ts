import { status as grpcStatus } from "@grpc/grpc-js";
import type { RpcStatus } from "./model.ts";
import type { SendResult } from "./http-sender.ts";

/** The HTTP to canonical-code mapping documented with google.rpc.Code. */
function codeForHttpStatus(status: number): number {
  if (status >= 200 && status < 300) return grpcStatus.OK;
  switch (status) {
    case 400:
      return grpcStatus.INVALID_ARGUMENT;
    case 401:
      return grpcStatus.UNAUTHENTICATED;
    case 403:
      return grpcStatus.PERMISSION_DENIED;
    case 404:
      return grpcStatus.NOT_FOUND;
    case 409:
      return grpcStatus.ABORTED;
    case 429:
      return grpcStatus.RESOURCE_EXHAUSTED;
    case 499:
      return grpcStatus.CANCELLED;
    case 501:
      return grpcStatus.UNIMPLEMENTED;
    case 503:
      return grpcStatus.UNAVAILABLE;
    case 504:
      return grpcStatus.DEADLINE_EXCEEDED;
  }
  if (status >= 400 && status < 500) return grpcStatus.FAILED_PRECONDITION;
  if (status >= 500) return grpcStatus.INTERNAL;
  return grpcStatus.UNKNOWN;
}

/** What an attempt's answer becomes in Attempt.response_status. */
export function attemptStatus(result: SendResult): RpcStatus {
  switch (result.kind) {
    case "response":
      return { code: codeForHttpStatus(result.status), message: `HTTP status code ${result.status}` };
    case "timeout":
      return { code: grpcStatus.DEADLINE_EXCEEDED, message: "The target did not answer within the dispatch deadline." };
    case "error":
      return { code: grpcStatus.UNAVAILABLE, message: `The target could not be reached: ${result.message}` };
  }
}

/** X-CloudTasks-TaskRetryReason: the emulator reports the canonical code name of the failed attempt. */
export function retryReason(rpcStatus: RpcStatus): string {
  return grpcStatus[rpcStatus.code] ?? "UNKNOWN";
}
