FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# DejaVu Sans for the order's PDF (ORDER_PDF_FONT_DIR).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.lock .
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
RUN DEBUG=true python manage.py collectstatic --noinput -v0
RUN useradd --system app && chown -R app /app
USER app
EXPOSE 8000
CMD ["gunicorn", "imaging_cds.wsgi:application", "--bind", "0.0.0.0:8000"]
