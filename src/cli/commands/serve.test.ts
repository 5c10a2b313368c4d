import { InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { parseUpstreamSpec } from "./serve.js";

describe("parseUpstreamSpec (--upstream [NAME=]URL)", () => {
  it("reads a URL alone, or a name and a URL", () => {
    expect(parseUpstreamSpec("http://10.0.0.11:8000/v1")).toEqual({ url: "http://10.0.0.11:8000/v1" });
    expect(parseUpstreamSpec("gpu1=http://10.0.0.11:8000/v1")).toEqual({ name: "gpu1", url: "http://10.0.0.11:8000/v1" });
    // An = inside the URL (a query) is not a name's end.
    expect(parseUpstreamSpec("http://host/v1?a=b")).toEqual({ url: "http://host/v1?a=b" });
  });

  it("refuses an empty URL", () => {
    expect(() => parseUpstreamSpec("gpu1=")).toThrow(InvalidArgumentError);
    expect(() => parseUpstreamSpec("")).toThrow(InvalidArgumentError);
  });
});
