import { describe, expect, it } from "vitest";
import { escapeXml, formatChartNumber, niceTicks, renderSvgChart } from "./svg-chart.js";

describe("renderSvgChart", () => {
  it("draws panels with series, error bars and escaped labels as one SVG document", () => {
    const svg = renderSvgChart({
      title: "A <title> & more",
      panels: [
        {
          title: "lines",
          xLabel: "concurrency",
          yLabel: "tok/s",
          xScale: "log2",
          xTicks: [1, 2, 4],
          series: [
            {
              name: "a",
              points: [
                { x: 1, y: 10 },
                { x: 2, y: 18 },
                { x: 4, y: 30 },
              ],
            },
          ],
        },
        {
          title: "scatter",
          xLabel: "USD",
          yLabel: "%",
          yMin: 0,
          yMax: 100,
          series: [{ name: "m", line: "none", points: [{ x: 0.5, y: 40, yLow: 30, yHigh: 50, label: "thinking on" }] }],
        },
      ],
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("A &lt;title&gt; &amp; more");
    expect(svg).toContain("thinking on");
    expect(svg.match(/<circle /g)!.length).toBeGreaterThanOrEqual(4);
    expect(svg).not.toContain("NaN");
    expect(svg).toBe(
      renderSvgChart({
        title: "A <title> & more",
        panels: [
          {
            title: "lines",
            xLabel: "concurrency",
            yLabel: "tok/s",
            xScale: "log2",
            xTicks: [1, 2, 4],
            series: [
              {
                name: "a",
                points: [
                  { x: 1, y: 10 },
                  { x: 2, y: 18 },
                  { x: 4, y: 30 },
                ],
              },
            ],
          },
          {
            title: "scatter",
            xLabel: "USD",
            yLabel: "%",
            yMin: 0,
            yMax: 100,
            series: [{ name: "m", line: "none", points: [{ x: 0.5, y: 40, yLow: 30, yHigh: 50, label: "thinking on" }] }],
          },
        ],
      }),
    );
  });

  it("draws empty and flat data without NaN", () => {
    const svg = renderSvgChart({
      panels: [
        {
          title: "t",
          xLabel: "x",
          yLabel: "y",
          series: [
            { name: "zero", points: [{ x: 0, y: 0 }] },
            { name: "none", points: [] },
          ],
        },
      ],
    });
    expect(svg).not.toContain("NaN");
    expect(svg).not.toContain("Infinity");
  });
});

describe("chart helpers", () => {
  it("makes round ticks and short labels", () => {
    expect(niceTicks(0, 97)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(0, 0.3)).toEqual([0, 0.1, 0.2, 0.3]);
    expect(niceTicks(0, 0)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(formatChartNumber(0.30000000000000004)).toBe("0.3");
    expect(formatChartNumber(25_000)).toBe("25k");
    expect(escapeXml(`a"b'c`)).toBe("a&quot;b&apos;c");
  });
});
