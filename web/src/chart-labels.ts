/** Where the text beside a chart's markers goes, so that labels of nearby points do not cover each other. */

/** A label to place: its text and the point it belongs to, in pixels of the drawing. */
export interface LabelRequest {
  key: string;
  text: string;
  x: number;
  y: number;
}

/** A placed label: where its baseline starts (or ends, for `end`) and whether it was moved off its point's line. */
export interface PlacedLabel extends LabelRequest {
  textX: number;
  textY: number;
  anchor: "start" | "end";
  /** Whether the label sits above or below its usual place; a thin line then joins it to its point. */
  isMoved: boolean;
}

/** Width of one character of an 11.5 px label, px (an estimate: labels are placed before they are drawn). */
const labelCharWidthPx = 6.4;
/** Height of one label line, px. */
const labelLineHeightPx = 14;
/** How far from its point a label starts, px. */
const labelGapPx = 8;
/** How many lines up or down a label may move before it is left where it collides. */
const maxShiftLines = 6;

interface Box {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

const overlaps = (a: Box, b: Box): boolean => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;

/**
 * Places each label beside its point: to the right, or to the left near the right edge; a label that would cover one
 * already placed moves down or up a line at a time (at most {@link maxShiftLines}), staying between `top` and
 * `bottom`. Labels are placed from the top of the chart down, so that a pile of labels at one point reads as a list.
 */
export function placeLabels(labels: readonly LabelRequest[], bounds: { right: number; top: number; bottom: number }): PlacedLabel[] {
  const placed: Array<{ label: PlacedLabel; box: Box }> = [];
  const ordered = [...labels].sort((a, b) => a.y - b.y || a.x - b.x);
  for (const label of ordered) {
    const widthPx = label.text.length * labelCharWidthPx;
    const anchor = label.x + labelGapPx + widthPx > bounds.right ? "end" : "start";
    const left = anchor === "start" ? label.x + labelGapPx : label.x - labelGapPx - widthPx;
    const boxAt = (baseline: number): Box => ({ left, right: left + widthPx, top: baseline - labelLineHeightPx + 3, bottom: baseline + 3 });
    const preferred = label.y - labelGapPx;
    const shifts = [0];
    for (let line = 1; line <= maxShiftLines; line++) shifts.push(line, -line);
    const baseline =
      shifts
        .map((shift) => preferred + shift * labelLineHeightPx)
        .find((candidate) => {
          const box = boxAt(candidate);
          return box.top >= bounds.top && box.bottom <= bounds.bottom && placed.every((other) => !overlaps(box, other.box));
        }) ?? preferred;
    placed.push({
      label: {
        ...label,
        textX: anchor === "start" ? label.x + labelGapPx : label.x - labelGapPx,
        textY: baseline,
        anchor,
        isMoved: baseline !== preferred,
      },
      box: boxAt(baseline),
    });
  }
  return placed.map((entry) => entry.label);
}
