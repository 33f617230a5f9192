/**
 * Limits both ends of a plugin connection agree on: the core's channel and the SDK's server are
 * configured from here, so that neither accepts what the other would refuse.
 */

/**
 * The largest gRPC message either side sends or accepts: a job payload with 10 MiB of variables must
 * reach a plugin in one Configure.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
