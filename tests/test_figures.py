"""The Generate page's raster mini map: points land where their coordinates say, the mark sits on z."""
import numpy as np

from ui.figures import mark_raster, raster_map


def test_raster_map_puts_points_and_the_mark_where_the_coordinates_say():
    coords = np.array([[-10.0, -10.0], [10.0, 10.0], [0.0, 0.0]], dtype=np.float32)
    image, bounds = raster_map(coords, np.array([0, 1, 2]), 3, size=101)
    assert image.shape == (101, 101, 3) and image.dtype == np.uint8
    background = image[0, 50].copy()
    assert (image[50, 50] != background).any()        # the centre point is drawn at the centre
    assert (image[5, 5] == background).all()           # nothing where no point is
    marked = mark_raster(image, bounds, (0.0, 0.0))
    assert (marked[50, 50] == 255).all()               # the white cross is on z
    assert (marked[50, 50 + 6] == 255).all() and (marked[50 + 6, 50] == 255).all()
    assert (image[50, 56] != 255).any()                # the background itself is untouched (a copy was marked)
    far = mark_raster(image, bounds, (1e6, -1e6))      # off the map: clipped to the corner, no crash
    assert (far[-1, -1] == 255).all()
