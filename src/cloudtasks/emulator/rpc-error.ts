import { status } from "@grpc/grpc-js";

/** An error that the gRPC layer answers with its own status code instead of INTERNAL. */
export class RpcError extends Error {
  readonly code: status;
  constructor(code: status, message: string) {
    super(message);
    this.name = "RpcError";
    this.code = code;
  }
}

export const invalidArgument = (message: string) => new RpcError(status.INVALID_ARGUMENT, message);
export const notFound = (message = "Requested entity was not found.") => new RpcError(status.NOT_FOUND, message);
export const alreadyExists = (message = "Requested entity already exists") => new RpcError(status.ALREADY_EXISTS, message);
export const failedPrecondition = (message: string) => new RpcError(status.FAILED_PRECONDITION, message);
