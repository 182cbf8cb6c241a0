// basiss view: the map page. Reads window.BASISS_VIEW (config.js) and draws it with Leaflet.
(function () {
  "use strict";
  const C = window.BASISS_VIEW;
  const S = C.style;
  const map = L.map("map", { maxZoom: C.maxZoom, zoomSnap: 1 });
  const toLatLngBounds = (b) => L.latLngBounds([b[1], b[0]], [b[3], b[2]]);

  // base layers: none (offline, the default) or an online basemap
  const none = L.layerGroup().addTo(map);
  const online = L.tileLayer(C.basemap.url, {
    attribution: C.basemap.attribution, maxZoom: C.maxZoom, maxNativeZoom: 19,
  });
  const bases = { "No basemap (offline)": none, "OpenStreetMap (online)": online };

  // raster layers: one tile layer per scene and kind, grouped by kind
  const names = { image: "Imagery", prob: "Probability", mask: "Mask" };
  const groups = {};
  const probLayers = [];
  for (const r of C.rasters) {
    const layer = L.tileLayer(C.tileUrl.replace("{layer}", r.id), {
      bounds: toLatLngBounds(r.bounds), minZoom: r.minZoom, maxZoom: C.maxZoom,
      minNativeZoom: r.minNativeZoom, maxNativeZoom: r.maxNativeZoom,
      opacity: r.kind === "prob" ? 0.8 : 1.0, className: "basiss-" + r.kind,
    });
    if (r.kind === "prob") probLayers.push(layer);
    (groups[r.kind] = groups[r.kind] || L.layerGroup()).addLayer(layer);
  }
  const overlays = {};
  for (const kind of ["image", "prob", "mask"]) {
    if (groups[kind]) overlays[names[kind]] = groups[kind];
  }

  // vector layers
  const V = C.vectors;
  if (V.network) {
    overlays["Road network"] = L.geoJSON(V.network, {
      filter: (f) => f.geometry.type !== "Point" || f.properties.feature === "node",
      style: { color: S.network, weight: 2.5, opacity: 0.95 },
      pointToLayer: (f, ll) => L.circleMarker(ll, {
        radius: 3, color: S.network, weight: 1, fillOpacity: 0.9,
      }),
    });
  }
  if (V.truth) {
    overlays["Truth"] = L.geoJSON(V.truth, {
      style: { color: S.truth, weight: 1.5, dashArray: "5 4", fill: false },
    });
  }
  overlays["Footprints"] = L.geoJSON(V.footprints, {
    style: { color: S.footprint, weight: 1.5, dashArray: "2 4", fill: false },
    onEachFeature: (f, layer) => layer.bindTooltip(f.properties.scene, { sticky: true }),
  });
  for (const [name, layer] of Object.entries(overlays)) {
    if (name !== "Mask") layer.addTo(map);
  }
  L.control.layers(bases, overlays, { collapsed: false }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);

  // the probability panel: opacity slider, colour ramp, value at the clicked point
  const panel = L.control({ position: "bottomleft" });
  let readout = null;
  panel.onAdd = function () {
    const div = L.DomUtil.create("div", "basiss-panel");
    div.innerHTML =
      '<label>Probability opacity <input id="basiss-opacity" type="range" min="0" max="100" value="80"></label>' +
      '<div class="basiss-ramp" style="background:' + S.ramp + '"></div>' +
      '<div class="basiss-ramp-labels"><span>0</span><span>0.5</span><span>1</span></div>' +
      '<div class="basiss-readout" id="basiss-readout">click the map for the probability</div>';
    L.DomEvent.disableClickPropagation(div);
    readout = div.querySelector("#basiss-readout");
    div.querySelector("#basiss-opacity").addEventListener("input", (e) => {
      for (const layer of probLayers) layer.setOpacity(e.target.value / 100);
    });
    return div;
  };
  panel.addTo(map);

  function describe(values) {
    if (!values.length) return "outside the predictions";
    return values.map((v) => v.scene + ": p = " +
      (v.probability === undefined ? "n/a" : v.probability.toFixed(3)) +
      (v.road === undefined ? "" : v.road ? " (road)" : " (background)")).join("<br>");
  }
  map.on("click", (e) => {
    const where = e.latlng.lat.toFixed(6) + ", " + e.latlng.lng.toFixed(6);
    if (!C.pointUrl) {
      readout.innerHTML = where + "<br>point values need the server (basiss view)";
      return;
    }
    const url = C.pointUrl + "?lon=" + e.latlng.lng + "&lat=" + e.latlng.lat;
    fetch(url).then((r) => r.json()).then((values) => {
      readout.innerHTML = where + "<br>" + describe(values);
    }).catch((err) => { readout.textContent = "point query failed: " + err; });
  });

  map.fitBounds(toLatLngBounds(C.bounds));
  window.basissView = { map: map, overlays: overlays, bases: bases };
})();
