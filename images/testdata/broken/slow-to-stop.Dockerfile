# The service takes 400ms to shut down after SIGTERM: past a 100ms grace,
# production kills it mid-shutdown.
FROM scratch
COPY rootfs/ /
ENV TZ=Asia/Shanghai
COPY bin/fixture /app/fixture
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app/fixture"]
CMD ["-stop-after=400ms"]
