export * from "./client.js";
export * from "./errors.js";
export * from "./jcs.js";
export * from "./presigned.js";
export * from "./types.js";
export * from "./verify.js";
/** Every shape of the API, generated from its OpenAPI schema (src/schema.ts). */
export type { components, operations, paths } from "./schema.js";
