// charts.js: the status page's charts, as SVG, with no dependency (served by the state endpoint
// from the binary, so that the page needs no network).
//
//   Charts.bars(element, [{label, value}], {title, format})
//   Charts.lines(element, [{name, points: [[x, y], ...]}], {title, threshold, format})
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];

  function node(name, attributes, text) {
    const element = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function frame(element, width, height, title) {
    element.replaceChildren();
    const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
    if (title) svg.appendChild(node("title", {}, title));
    element.appendChild(svg);
    return svg;
  }

  // One bar per item, labelled under it, its value above it.
  function bars(element, items, options = {}) {
    const width = 320, height = 150, bottom = 22, top = 14;
    const svg = frame(element, width, height, options.title);
    const format = options.format || (value => String(value));
    const most = Math.max(1e-12, ...items.map(item => item.value));
    const slot = (width - 8) / Math.max(1, items.length);
    items.forEach((item, index) => {
      const barHeight = (height - bottom - top) * (item.value / most);
      const x = 4 + index * slot + slot * 0.1;
      const y = height - bottom - barHeight;
      svg.appendChild(node("rect", {
        class: "bar", x, y, width: slot * 0.8, height: Math.max(0, barHeight),
        fill: COLOURS[0], "data-value": item.value,
      }));
      if (items.length <= 24) {
        svg.appendChild(node("text", { x: x + slot * 0.4, y: height - 8, class: "axis" }, item.label));
        svg.appendChild(node("text", { x: x + slot * 0.4, y: y - 3, class: "value" }, format(item.value)));
      }
    });
    svg.appendChild(node("line", { x1: 0, x2: width, y1: height - bottom, y2: height - bottom, class: "baseline" }));
    return svg;
  }

  // One line per series over a shared x axis (times), with an optional threshold line.
  function lines(element, series, options = {}) {
    const width = 640, height = 180, left = 44, bottom = 20, top = 10, right = 8;
    const svg = frame(element, width, height, options.title);
    const format = options.format || (value => value.toFixed(2));
    const points = series.flatMap(one => one.points);
    if (points.length === 0) {
      svg.appendChild(node("text", { x: width / 2, y: height / 2, class: "empty" }, "no data yet"));
      return svg;
    }
    const xs = points.map(point => point[0]);
    const ys = points.map(point => point[1]).concat(options.threshold ?? []);
    const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    const [y0, y1] = [Math.min(0, ...ys), Math.max(1e-12, ...ys) * 1.1];
    const sx = x => left + (width - left - right) * (x1 === x0 ? 1 : (x - x0) / (x1 - x0));
    const sy = y => height - bottom - (height - bottom - top) * ((y - y0) / (y1 - y0));
    for (const tick of [y0, (y0 + y1) / 2, y1]) {
      svg.appendChild(node("line", { x1: left, x2: width - right, y1: sy(tick), y2: sy(tick), class: "grid" }));
      svg.appendChild(node("text", { x: left - 4, y: sy(tick) + 4, class: "axis y" }, format(tick)));
    }
    if (options.threshold !== undefined) {
      const y = sy(options.threshold);
      svg.appendChild(node("line", { x1: left, x2: width - right, y1: y, y2: y, class: "threshold" }));
    }
    series.forEach((one, index) => {
      if (one.points.length === 0) return;
      const path = one.points.map(([x, y], at) => `${at ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
      svg.appendChild(node("path", { d: path, class: "line", stroke: COLOURS[index % COLOURS.length] }, undefined));
    });
    const legend = node("g", { class: "legend" });
    series.slice(0, 8).forEach((one, index) => {
      legend.appendChild(node("text", {
        x: left + 6 + (index % 4) * 148, y: top + 10 + Math.floor(index / 4) * 12,
        fill: COLOURS[index % COLOURS.length],
      }, one.name));
    });
    svg.appendChild(legend);
    return svg;
  }

  return { bars, lines };
})();
