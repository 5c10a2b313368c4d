export type * from "./generate.js";
export type * from "./usage.js";
export type * from "./models.js";
