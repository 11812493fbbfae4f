/** Classification metrics on logits stored row by row (samples × classes). */

/** Predictions are the argmax of each row (the first maximum on ties, as numpy and PyTorch). */
export function argmaxRows(logits: ArrayLike<number>, classes: number): Int32Array {
  const rows = logits.length / classes;
  const out = new Int32Array(rows);
  for (let s = 0; s < rows; s++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[s * classes + c]! > logits[s * classes + best]!) best = c;
    out[s] = best;
  }
  return out;
}

export function countCorrect(predictions: Int32Array, labels: ArrayLike<number>): number {
  let correct = 0;
  for (let s = 0; s < labels.length; s++) if (predictions[s] === labels[s]) correct++;
  return correct;
}

/** Fraction of rows whose argmax is the label. */
export function accuracyOf(logits: ArrayLike<number>, labels: ArrayLike<number>): number {
  return countCorrect(argmaxRows(logits, logits.length / labels.length), labels) / labels.length;
}

/** Per row, the largest absolute difference between two logit tables of the same shape. */
export function rowErrors(a: ArrayLike<number>, b: ArrayLike<number>, classes: number): number[] {
  return Array.from({ length: a.length / classes }, (_, s) => {
    let worst = 0;
    for (let c = 0; c < classes; c++) worst = Math.max(worst, Math.abs(a[s * classes + c]! - b[s * classes + c]!));
    return worst;
  });
}
