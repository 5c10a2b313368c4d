export type * from "./generate.js";
